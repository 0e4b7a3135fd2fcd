"""Soak of `planform sandbox serve` (issue 16): concurrent clients through the official SDKs
(half boto3 on the AWS face, half the Alibaba SDK), for a bounded time, against a loopback
server started for the purpose. Every error counts (the server is told to inject none), and the
server's resident memory (VmRSS of /proc/PID/status) is sampled twice a second.

Each client cycles over one plan of its own, so the stored data stays the same size: create →
read until the preview is done → list a page → delete. Memory that grows is then the server's,
not the data's (the nonces of the last 15 minutes are kept by design: about 100 bytes each).

    scripts/soak [SECONDS] [CLIENTS] [both|aws|alibaba]    # 60 s, 64 clients, both faces by default
"""

import json
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter

import boto3
from botocore.config import Config as BotoConfig
from alibabacloud_servicecatalog20210901 import models
from alibabacloud_servicecatalog20210901.client import Client
from alibabacloud_tea_openapi.models import Config as AliConfig

from conftest import KEY, Server


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def aws_cycle(c, name):
    plan = c.create_provisioned_product_plan(
        PlanName=name, PlanType="CLOUDFORMATION", ProductId="prod-sbxvpc0000001", ProvisioningArtifactId="pv-sbxvpc0000001",
        ProvisionedProductName=name, ProvisioningParameters=[{"Key": "cidr_block", "Value": "10.0.0.0/16"}])["PlanId"]
    n = 1
    while c.describe_provisioned_product_plan(PlanId=plan)["ProvisionedProductPlanDetails"]["Status"] == "CREATE_IN_PROGRESS":
        n += 1
        time.sleep(0.01)
    c.list_provisioned_product_plans(PageSize=10)
    c.delete_provisioned_product_plan(PlanId=plan)
    return n + 3


def ali_cycle(c, name):
    plan = c.create_provisioned_product_plan(models.CreateProvisionedProductPlanRequest(
        plan_name=name, plan_type="Ros", product_id="prod-sbxvpc0000001", product_version_id="pv-sbxvpc0000001",
        provisioned_product_name=name, stack_region_id="cn-hangzhou",
        parameters=[models.CreateProvisionedProductPlanRequestParameters(parameter_key="cidr_block", parameter_value="10.0.0.0/16")])).body.plan_id
    n = 1
    get = models.GetProvisionedProductPlanRequest(plan_id=plan)
    while c.get_provisioned_product_plan(get).body.plan_detail.status == "PreviewInProgress":
        n += 1
        time.sleep(0.01)
    c.list_provisioned_product_plans(models.ListProvisionedProductPlansRequest(page_size=10))
    c.delete_provisioned_product_plan(models.DeleteProvisionedProductPlanRequest(plan_id=plan))
    return n + 3


def aws_client(endpoint, clients):
    """One boto3 client for every AWS-face thread (botocore clients are thread-safe; making 32
    of them takes seconds of the GIL), with a connection per thread."""
    return boto3.session.Session().client(
        "servicecatalog", endpoint_url=f"http://{endpoint}", region_name="us-east-1",
        aws_access_key_id=KEY[0], aws_secret_access_key=KEY[1],
        config=BotoConfig(retries={"mode": "standard"}, max_pool_connections=clients))


def client_loop(i, endpoint, stop, warmed, counts, errors, lock, faces, aws):
    if faces == "aws" or (faces == "both" and i % 2 == 0):
        c = aws
        cycle = aws_cycle
    else:
        c = Client(AliConfig(access_key_id=KEY[0], access_key_secret=KEY[1], endpoint=endpoint, protocol="http",
                             region_id="cn-hangzhou"))
        cycle = ali_cycle
    name = f"soak-{i}"
    first = True
    while not stop.is_set():
        try:
            n = cycle(c, name)
            with lock:
                counts["requests"] += n
                counts["cycles"] += 1
        except Exception as e:  # every error counts: none is injected
            with lock:
                errors[f"{type(e).__name__}: {getattr(e, 'code', '') or str(e)[:120]}"] += 1
        if first:
            first = False
            warmed.release()


def run(seconds=60.0, clients=64, data_dir=None, faces="both"):
    """Soaks a fresh server for `seconds` with `clients` threads (`faces`: both, aws or
    alibaba); returns the figures."""
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(data_dir or tmp).start()
        try:
            return soak(server, seconds, clients, faces)
        finally:
            server.stop()


def soak(server, seconds, clients, faces):
    """Starts the clients, waits until each has done one cycle (Python starts 64 SDK clients
    slowly), then runs for `seconds`, sampling the server's RSS twice a second."""
    pid = server.proc.pid
    counts, errors, lock = Counter(), Counter(), threading.Lock()
    stop, warmed = threading.Event(), threading.Semaphore(0)
    rss_start = rss_kib(pid)
    begun = time.monotonic()
    aws = aws_client(server.endpoint, clients)
    threads = [threading.Thread(target=client_loop, args=(i, server.endpoint, stop, warmed, counts, errors, lock, faces, aws))
               for i in range(clients)]
    for t in threads:
        t.start()
    for _ in threads:
        assert warmed.acquire(timeout=120), "a client never finished its first cycle"
    warm_up = time.monotonic() - begun
    with lock:
        counts.clear()
    start = time.monotonic()
    samples = [(0.0, rss_kib(pid))]  # (seconds since warmed up, RSS KiB)
    while time.monotonic() < start + seconds:
        time.sleep(0.5)
        samples.append((time.monotonic() - start, rss_kib(pid)))
    elapsed = time.monotonic() - start
    stop.set()
    for t in threads:
        t.join(timeout=120)
    stuck = sum(t.is_alive() for t in threads)
    # Warmed up: the median of the first 10 % of the run; the end: the median of its last 10 %.
    warm = [r for t, r in samples if t <= 0.1 * seconds]
    end = [r for t, r in samples if t >= 0.9 * seconds] or [samples[-1][1]]
    return {
        "seconds": round(elapsed, 1),
        "warm_up_seconds": round(warm_up, 1),
        "clients": clients,
        "faces": faces,
        "requests": counts["requests"],
        "requests_per_second": round(counts["requests"] / elapsed, 1),
        "cycles": counts["cycles"],
        "errors": dict(errors),
        "stuck_clients": stuck,
        "rss_kib_start": rss_start,
        "rss_kib_warm": int(statistics.median(warm)),
        "rss_kib_end": int(statistics.median(end)),
        "rss_kib_max": max(r for _, r in samples),
        # RSS at every tenth of the run, to see whether it levels off.
        "rss_kib_by_tenth": [min(samples, key=lambda s: abs(s[0] - k * seconds / 10))[1] for k in range(1, 11)],
    }


if __name__ == "__main__":
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 60.0
    clients = int(sys.argv[2]) if len(sys.argv) > 2 else 64
    faces = sys.argv[3] if len(sys.argv) > 3 else "both"
    assert faces in ("both", "aws", "alibaba"), faces
    report = run(seconds, clients, faces=faces)
    print(json.dumps(report, indent=2))
    growth = report["rss_kib_end"] - report["rss_kib_warm"]
    print(f"{report['requests']} requests in {report['seconds']} s after {report['warm_up_seconds']} s of warm-up "
          f"({report['requests_per_second']}/s), "
          f"{sum(report['errors'].values())} errors; RSS warmed up {report['rss_kib_warm']} KiB, "
          f"at the end {report['rss_kib_end']} KiB ({growth:+d} KiB)")
    sys.exit(1 if report["errors"] or report["stuck_clients"] else 0)
