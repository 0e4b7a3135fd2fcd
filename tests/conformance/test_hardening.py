"""`sandbox serve` hardening (issue 16), through the real binary: where its keys come from and
how the key file is checked, private data, replayed Alibaba requests across a restart, nonce
length, and connections that never finish their request."""

import datetime
import hashlib
import hmac
import json
import os
import socket
import stat
import subprocess
import urllib.error
import urllib.parse
import urllib.request
import uuid

import boto3
from alibabacloud_servicecatalog20210901 import models

from conftest import KEY, Server, binary
from test_alibaba import client as ali_client


def aws(server, key):
    return boto3.client("servicecatalog", endpoint_url=f"http://{server.endpoint}", region_name="us-east-1",
                        aws_access_key_id=key[0], aws_secret_access_key=key[1])


def test_a_key_file_others_can_read_is_refused(tmp_path):
    keys = tmp_path / "keys"
    keys.write_text("fileid:filesecret\n")
    os.chmod(keys, 0o644)
    run = subprocess.run([binary(), "sandbox", "serve", "--listen", "127.0.0.1:0", "--data", str(tmp_path / "data"),
                          "--access-key-file", str(keys)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 1, run
    assert f"access key file {keys}: permissions 0644 are too open" in run.stderr, run.stderr
    assert "chmod 600" in run.stderr and "filesecret" not in run.stderr + run.stdout


def test_keys_from_a_private_file_and_the_environment_work(tmp_path):
    keys = tmp_path / "keys"
    keys.write_text("# CI keys\nfileid:filesecret\n")
    os.chmod(keys, 0o600)
    env = dict(os.environ, PLANFORM_SANDBOX_ACCESS_KEY="envid:envsecret")
    s = Server(tmp_path / "data", extra=["--access-key-file", str(keys)], env=env, keys=False).start()
    try:
        assert s.printed == [], "no key is generated when keys are given"
        for key in [("fileid", "filesecret"), ("envid", "envsecret")]:
            assert aws(s, key).list_provisioned_product_plans()["ResponseMetadata"]["HTTPStatusCode"] == 200
        ali_client(s, key=("envid", "envsecret")).list_provisioned_product_plans(models.ListProvisionedProductPlansRequest())
    finally:
        s.stop()


def test_a_generated_key_is_printed_and_works(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PLANFORM_SANDBOX_ACCESS_KEY"}
    s = Server(tmp_path / "data", env=env, keys=False).start()
    try:
        (line,) = s.printed
        key_id, secret = line.removeprefix("access key: ").strip().split(":")
        assert key_id.startswith("LTAIsbx") and len(key_id) == 24 and len(secret) == 30 and secret.isalnum()
        ali_client(s, key=(key_id, secret)).list_provisioned_product_plans(models.ListProvisionedProductPlansRequest())
    finally:
        s.stop()


def test_the_data_is_private(tmp_path):
    data = tmp_path / "data"
    s = Server(data).start()
    try:
        assert stat.S_IMODE(os.stat(data).st_mode) == 0o700
        for name in ["sandbox.redb", "nonces.redb"]:
            assert stat.S_IMODE(os.stat(data / name).st_mode) == 0o600, name
    finally:
        s.stop()


def signed_create(host, name, nonce=None):
    """A CreateProvisionedProductPlan signed with ACS3-HMAC-SHA256 (headers and body, as captured)."""
    payload = urllib.parse.urlencode({
        "PlanName": name, "PlanType": "Ros", "ProductId": "prod-sbxvpc0000001", "ProductVersionId": "pv-sbxvpc0000001",
        "ProvisionedProductName": name, "StackRegionId": "cn-hangzhou",
        "Parameters.1.ParameterKey": "cidr_block", "Parameters.1.ParameterValue": "10.0.0.0/16"}).encode()
    headers = {
        "host": host, "x-acs-version": "2021-09-01", "x-acs-action": "CreateProvisionedProductPlan",
        "x-acs-date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "x-acs-signature-nonce": nonce or uuid.uuid4().hex, "content-type": "application/x-www-form-urlencoded",
        "x-acs-content-sha256": hashlib.sha256(payload).hexdigest(),
    }
    names = sorted(headers)
    canonical = "POST\n/\n\n" + "".join(f"{n}:{headers[n].strip()}\n" for n in names) + "\n" + ";".join(names) + "\n" + headers["x-acs-content-sha256"]
    sig = hmac.new(KEY[1].encode(), ("ACS3-HMAC-SHA256\n" + hashlib.sha256(canonical.encode()).hexdigest()).encode(), hashlib.sha256).hexdigest()
    headers["Authorization"] = f"ACS3-HMAC-SHA256 Credential={KEY[0]},SignedHeaders={';'.join(names)},Signature={sig}"
    return headers, payload


def send(endpoint, headers, payload):
    req = urllib.request.Request(f"http://{endpoint}/", data=payload, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def plans_named(server, name):
    got = ali_client(server).list_provisioned_product_plans(
        models.ListProvisionedProductPlansRequest(page_size=100, access_level_filter="Account")).body
    return [p for p in got.plan_details if p.plan_name == name]


def test_a_captured_create_replayed_after_a_restart_is_refused(tmp_path):
    s = Server(tmp_path).start()
    try:
        captured = signed_create(s.endpoint, "replayed")
        status, body = send(s.endpoint, *captured)
        assert status == 200, body
        status, body = send(s.endpoint, *captured)
        assert (status, body["Code"]) == (400, "SignatureNonceUsed")
    finally:
        s.kill()
    # The same bytes (same Host header) to the restarted server, on its new port.
    s2 = Server(tmp_path).start()
    try:
        status, body = send(s2.endpoint, *captured)
        assert (status, body["Code"]) == (400, "SignatureNonceUsed"), body
        assert len(plans_named(s2, "replayed")) == 1
    finally:
        s2.stop()


def test_nonces_longer_than_128_characters_are_refused(server):
    status, body = send(server.endpoint, *signed_create(server.endpoint, "long-nonce", nonce="n" * 129))
    assert (status, body["Code"]) == (400, "InvalidSignatureNonce"), body
    status, body = send(server.endpoint, *signed_create(server.endpoint, "long-nonce", nonce="n" * 128))
    assert status == 200, body


def read_until_closed(sock):
    """What the server sends until it closes; the socket timeout is far beyond the server's."""
    sock.settimeout(30)
    out = b""
    while True:
        try:
            chunk = sock.recv(4096)
        except ConnectionResetError:
            return out
        if not chunk:
            return out
        out += chunk


def test_a_half_sent_header_is_closed(tmp_path):
    s = Server(tmp_path, extra=["--header-read-timeout", "300ms"]).start()
    try:
        host, port = s.endpoint.rsplit(":", 1)
        with socket.create_connection((host, int(port))) as sock:
            sock.sendall(b"POST / HTTP/1.1\r\nhost: " + s.endpoint.encode() + b"\r\nx-acs-act")
            assert read_until_closed(sock) == b""
        # The server still serves others.
        ali_client(s).list_provisioned_product_plans(models.ListProvisionedProductPlansRequest())
    finally:
        s.stop()


def test_connections_over_the_cap_get_a_503_that_the_sdks_retry(tmp_path):
    s = Server(tmp_path, extra=["--max-connections", "1"]).start()
    try:
        host, port = s.endpoint.rsplit(":", 1)
        with socket.create_connection((host, int(port))) as held:
            held.sendall(b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n")
            assert held.recv(12) == b"HTTP/1.1 404"
            with socket.create_connection((host, int(port))) as over:
                over.sendall(b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n")
                answer = read_until_closed(over)
            assert answer.startswith(b"HTTP/1.1 503"), answer
            assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["Code"] == "ServiceUnavailable"
        # The held connection is closed: boto3's retries get through once the slot is free.
        assert aws(s, KEY).list_provisioned_product_plans()["ResponseMetadata"]["HTTPStatusCode"] == 200
    finally:
        s.stop()
