"""The Alibaba face of `sandbox serve`, judged by alibabacloud-servicecatalog20210901 (V3 and legacy
V2 signatures, an STS token): create → get → list (pages, every filter, sorting) → update → execute
→ approve → delete, the fields the seed documents, and the real error codes."""

import hashlib
import hmac
import re
import urllib.parse
import urllib.request
import urllib.error
import json
import uuid
import datetime

import pytest
from alibabacloud_servicecatalog20210901 import models
from alibabacloud_servicecatalog20210901.client import Client
from alibabacloud_tea_openapi.models import Config

from conftest import DBA, KEY, STS, USER, wait_for

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def client(server, key=KEY, secret=None, v2=False, token=None):
    cfg = Config(access_key_id=key[0], access_key_secret=secret or key[1], endpoint=server.endpoint, protocol="http", region_id="cn-hangzhou")
    if token:
        cfg.security_token = token
    if v2:
        cfg.signature_algorithm = "v2"
    return Client(cfg)


def create(c, name, product="prod-sbxvpc0000001", version="pv-sbxvpc0000001", params=None, tags=None, portfolio=None):
    params = params if params is not None else {"cidr_block": "10.0.0.0/16"}
    req = models.CreateProvisionedProductPlanRequest(
        plan_name=name, plan_type="Ros", product_id=product, product_version_id=version, provisioned_product_name=name,
        stack_region_id="cn-hangzhou", portfolio_id=portfolio, description="conformance",
        parameters=[models.CreateProvisionedProductPlanRequestParameters(parameter_key=k, parameter_value=v) for k, v in params.items()],
        tags=[models.CreateProvisionedProductPlanRequestTags(key=k, value=v) for k, v in (tags or {}).items()])
    return c.create_provisioned_product_plan(req).body


def get(c, plan_id):
    return c.get_provisioned_product_plan(models.GetProvisionedProductPlanRequest(plan_id=plan_id)).body


def status_of(c, plan_id):
    return get(c, plan_id).plan_detail.status


def listing(c, **kw):
    filters = kw.pop("filters", [])
    req = models.ListProvisionedProductPlansRequest(filters=[models.ListProvisionedProductPlansRequestFilters(key=k, value=v) for k, v in filters], **kw)
    return c.list_provisioned_product_plans(req).body


def test_create_get_update_execute_delete(server):
    c = client(server)
    made = create(c, "conf-net", tags={"team": "platform", "owner": "téam~x*"}, params={"cidr_block": "10.0.0.0/16", "zone_id": "z a/b"})
    assert made.plan_id.startswith("plan-") and made.provisioned_product_id.startswith("pp-")
    assert re.match(r"^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$", made.request_id)
    d = get(c, made.plan_id).plan_detail
    assert d.plan_name == "conf-net" and d.plan_type == "Ros" and d.operation_type == "LaunchProduct"
    assert d.status in ("PreviewInProgress", "PreviewSuccess")
    assert {p.parameter_key: p.parameter_value for p in d.parameters} == {"cidr_block": "10.0.0.0/16", "zone_id": "z a/b"}
    assert {t.key: t.value for t in d.tags} == {"team": "platform", "owner": "téam~x*"}
    assert ISO.match(d.create_time) and ISO.match(d.update_time)
    assert d.provisioned_product_id == made.provisioned_product_id and d.stack_region_id == "cn-hangzhou"
    wait_for(lambda: status_of(c, made.plan_id), lambda s: s == "PreviewSuccess")
    full = get(c, made.plan_id)
    assert [r.action for r in full.resource_changes] == ["Add", "Add"]
    assert full.product_detail.product_id == "prod-sbxvpc0000001" and full.product_version_detail.product_version_id == "pv-sbxvpc0000001"
    assert full.plan_detail.status_message is None

    upd = models.UpdateProvisionedProductPlanRequest(plan_id=made.plan_id, product_id="prod-sbxvpc0000001", product_version_id="pv-sbxvpc0000001",
        parameters=[models.UpdateProvisionedProductPlanRequestParameters(parameter_key="cidr_block", parameter_value="10.9.0.0/16")])
    assert c.update_provisioned_product_plan(upd).body.plan_id == made.plan_id
    assert status_of(c, made.plan_id) in ("PreviewInProgress", "PreviewSuccess")
    wait_for(lambda: status_of(c, made.plan_id), lambda s: s == "PreviewSuccess")

    c.execute_provisioned_product_plan(models.ExecuteProvisionedProductPlanRequest(plan_id=made.plan_id))
    wait_for(lambda: status_of(c, made.plan_id), lambda s: s == "ExecuteSuccess")
    pp = c.get_provisioned_product(models.GetProvisionedProductRequest(provisioned_product_id=made.provisioned_product_id)).body.provisioned_product_detail
    assert pp.status == "Available" and pp.provisioned_product_type == "RosStack"
    task = c.get_task(models.GetTaskRequest(task_id=pp.last_provisioning_task_id)).body.task_detail
    outputs = {o.output_key: o.output_value for o in task.outputs}
    assert outputs["cidr_block"] == "10.9.0.0/16" and outputs["vpc_id"].startswith("vpc-")
    assert task.status == "Succeeded"

    with pytest.raises(Exception) as e:
        c.execute_provisioned_product_plan(models.ExecuteProvisionedProductPlanRequest(plan_id=made.plan_id))
    assert e.value.code == "InvalidStatus.ProvisionedProductPlan"
    c.delete_provisioned_product_plan(models.DeleteProvisionedProductPlanRequest(plan_id=made.plan_id))
    with pytest.raises(Exception) as e:
        get(c, made.plan_id)
    assert e.value.code == "InvalidProvisionedProductPlan.NotFound" and e.value.status_code == 404


def test_preview_failure_has_a_status_message(server):
    c = client(server)
    made = create(c, "conf-bad-ecs", product="prod-sbxecs0000001", version="pv-sbxecs0000002", params={"vpc_id": "vpc-1", "instance_type": "huge"})
    d = wait_for(lambda: get(c, made.plan_id).plan_detail, lambda d: d.status != "PreviewInProgress")
    assert d.status == "PreviewFailed"
    assert "AllowedValues" in d.status_message


def test_list_pages_filters_and_sorting(server):
    c = client(server)
    ids = [create(c, f"conf-list-{i:02d}").plan_id for i in range(12)]
    first = listing(c, page_size=5, page_number=1, filters=[("FullTextSearch", "conf-list")])
    assert first.total_count == 12 and first.page_size == 5 and first.page_number == 1 and len(first.plan_details) == 5
    assert first.plan_details[0].plan_id == ids[-1], "newest first by default"
    third = listing(c, page_size=5, page_number=3, filters=[("FullTextSearch", "conf-list")])
    assert len(third.plan_details) == 2
    asc = listing(c, page_size=100, sort_by="CreateTime", sort_order="Asc", filters=[("FullTextSearch", "conf-list")])
    assert [p.plan_id for p in asc.plan_details] == ids
    assert asc.plan_details[0].product_name == "VPC network"
    named = listing(c, filters=[("ProvisionedProductPlanName", "CONF-LIST-03")])
    assert [p.plan_id for p in named.plan_details] == [ids[3]]
    wait_for(lambda: status_of(c, ids[-1]), lambda s: s == "PreviewSuccess")
    by_status = listing(c, page_size=100, filters=[("ProvisionedProductPlanStatus", "PreviewSuccess"), ("ProvisionedProductPlanStatus", "PreviewFailed"), ("FullTextSearch", "conf-list")])
    assert by_status.total_count == 12
    owner = get(c, ids[0]).plan_detail.owner_principal_id
    assert listing(c, page_size=100, filters=[("ProvisionedProductPlanOwnerUid", owner), ("FullTextSearch", "conf-list")]).total_count == 12
    assert listing(c, filters=[("ProvisionedProductPlanOwnerUid", "999")]).total_count == 0
    for bad in [dict(page_size=101), dict(sort_order="Sideways")]:
        with pytest.raises(Exception) as e:
            listing(c, **bad)
        assert e.value.code.startswith("Invalid")


def test_approval_flow(server):
    c = client(server)
    made = create(c, "conf-db", product="prod-sbxrds0000001", version="pv-sbxrds0000001", portfolio="port-sbxreview0001", params={"engine": "MySQL"})
    wait_for(lambda: status_of(c, made.plan_id), lambda s: s == "PreviewSuccess")
    c.execute_provisioned_product_plan(models.ExecuteProvisionedProductPlanRequest(plan_id=made.plan_id))
    d = get(c, made.plan_id).plan_detail
    assert d.status == "ApplicationInProgress"
    assert [(a.principal_type, a.principal_name) for a in d.assigned_approvers] == [("RamUser", "dba")]
    assert [r.approval_action for r in d.approval_detail.operation_records] == ["Submit"]
    assert d.approval_detail.todo_task_activities[0].activity_name == "ApproverNode-1"
    assert listing(c, filters=[("ProvisionedProductPlanApproverName", "dba")]).total_count >= 1
    assert listing(c, filters=[("ProvisionedProductPlanApprover", "RamUser:dba")]).total_count >= 1
    approvers = c.list_provisioned_product_plan_approvers(models.ListProvisionedProductPlanApproversRequest(access_level_filter="User")).body.approvers
    assert ("RamUser", "dba") in [(a.principal_type, a.principal_name) for a in approvers]
    # Issue 14: only an assigned approver reviews; the owner (or anyone else) is refused.
    for who in [c, client(server, key=STS[:2], token=STS[2])]:
        for action in ["Approve", "Reject"]:
            with pytest.raises(Exception) as e:
                who.approve_provisioned_product_plan(models.ApproveProvisionedProductPlanRequest(plan_id=made.plan_id, approval_action=action, comment="mine"))
            assert (e.value.status_code, e.value.code) == (403, "Forbidden")
    assert status_of(c, made.plan_id) == "ApplicationInProgress"
    dba = client(server, key=DBA)
    dba.approve_provisioned_product_plan(models.ApproveProvisionedProductPlanRequest(plan_id=made.plan_id, approval_action="Approve", comment="ok"))
    assert status_of(c, made.plan_id) == "ApplicationApproved"
    records = get(c, made.plan_id).plan_detail.approval_detail.operation_records
    assert [(r.approval_action, r.operator.principal_type, r.operator.principal_name, r.comment) for r in records] == [
        ("Submit", "RamUser", USER, ""), ("Approve", "RamUser", "dba", "ok")]
    c.execute_provisioned_product_plan(models.ExecuteProvisionedProductPlanRequest(plan_id=made.plan_id))
    d = wait_for(lambda: get(c, made.plan_id).plan_detail, lambda d: d.status == "ExecuteSuccess")
    assert [r.approval_action for r in d.approval_detail.operation_records] == ["Submit", "Approve"]
    # One principal has one id wherever it is shown: the plan's owner, the operator of its
    # submission, the owner of the product it launched (the audit found three different ids).
    submitted = d.approval_detail.operation_records[0].operator
    product = c.get_provisioned_product(models.GetProvisionedProductRequest(provisioned_product_id=d.provisioned_product_id)).body.provisioned_product_detail
    assert d.owner_principal_id == submitted.principal_id == product.owner_principal_id, (d.owner_principal_id, submitted.principal_id, product.owner_principal_id)
    assert d.approval_detail.operation_records[1].operator.principal_id not in ("", d.owner_principal_id)
    # Reject and cancel.
    other = create(c, "conf-db2", product="prod-sbxrds0000001", version="pv-sbxrds0000001", portfolio="port-sbxreview0001", params={"engine": "PostgreSQL"})
    wait_for(lambda: status_of(c, other.plan_id), lambda s: s == "PreviewSuccess")
    c.execute_provisioned_product_plan(models.ExecuteProvisionedProductPlanRequest(plan_id=other.plan_id))
    dba.approve_provisioned_product_plan(models.ApproveProvisionedProductPlanRequest(plan_id=other.plan_id, approval_action="Reject", comment="not now"))
    d = get(c, other.plan_id).plan_detail
    assert d.status == "ApplicationRejected"
    assert (d.approval_detail.operation_records[-1].approval_action, d.approval_detail.operation_records[-1].operator.principal_name) == ("reject", "dba")
    third = create(c, "conf-db3", product="prod-sbxrds0000001", version="pv-sbxrds0000001", portfolio="port-sbxreview0001", params={"engine": "PostgreSQL"})
    wait_for(lambda: status_of(c, third.plan_id), lambda s: s == "PreviewSuccess")
    c.execute_provisioned_product_plan(models.ExecuteProvisionedProductPlanRequest(plan_id=third.plan_id))
    c.cancel_provisioned_product_plan(models.CancelProvisionedProductPlanRequest(plan_id=third.plan_id))
    assert status_of(c, third.plan_id) == "Canceled"


def test_reads_of_products_and_launch_options(server):
    c = client(server)
    opts = c.list_launch_options(models.ListLaunchOptionsRequest(product_id="prod-sbxrds0000001")).body.launch_option_summaries
    assert opts[0].portfolio_id == "port-sbxreview0001"
    kinds = {x.constraint_type: x for x in opts[0].constraint_summaries}
    assert kinds["Approval"].operation_types == ["LaunchProduct", "UpdateProvisionedProduct"]
    prod = c.get_product_as_end_user(models.GetProductAsEndUserRequest(product_id="prod-sbxvpc0000001")).body.product_summary
    assert prod.product_name == "VPC network" and prod.has_default_launch_option is True
    v = c.get_product_version(models.GetProductVersionRequest(product_version_id="pv-sbxecs0000002")).body.product_version_detail
    assert v.product_id == "prod-sbxecs0000001" and v.guidance == "Latest"


def test_legacy_signature_and_sts_token(server):
    made = create(client(server, v2=True), "conf-v2")
    assert get(client(server, v2=True), made.plan_id).plan_detail.plan_name == "conf-v2"
    sts = client(server, key=STS[:2], token=STS[2])
    assert get(sts, made.plan_id).plan_detail.plan_id == made.plan_id
    sts_v2 = client(server, key=STS[:2], token=STS[2], v2=True)
    assert get(sts_v2, made.plan_id).plan_detail.plan_id == made.plan_id
    with pytest.raises(Exception) as e:
        get(client(server, key=STS[:2], token="forged"), made.plan_id)
    assert e.value.code == "InvalidSecurityToken.Malformed"


def test_wrong_secret_and_unknown_key_are_rejected(server):
    with pytest.raises(Exception) as e:
        get(client(server, secret="not-the-secret"), "plan-x")
    assert e.value.code == "SignatureDoesNotMatch" and e.value.status_code == 400
    with pytest.raises(Exception) as e:
        get(client(server, key=("nobody", "x")), "plan-x")
    assert e.value.code == "InvalidAccessKeyId.NotFound" and e.value.status_code == 404
    with pytest.raises(Exception) as e:
        get(client(server, secret="not-the-secret", v2=True), "plan-x")
    assert e.value.code == "SignatureDoesNotMatch"


def acs3_request(server, action, body, tamper=None, nonce=None):
    """An ACS3-HMAC-SHA256 request signed per the documented algorithm (independent of the SDK)."""
    host = server.endpoint
    payload = body.encode()
    headers = {
        "host": host, "x-acs-version": "2021-09-01", "x-acs-action": action,
        "x-acs-date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "x-acs-signature-nonce": nonce or uuid.uuid4().hex, "accept": "application/json",
        "content-type": "application/x-www-form-urlencoded", "x-acs-content-sha256": hashlib.sha256(payload).hexdigest(),
    }
    names = sorted(headers)
    canonical = "POST\n/\n\n" + "".join(f"{n}:{headers[n].strip()}\n" for n in names) + "\n" + ";".join(names) + "\n" + headers["x-acs-content-sha256"]
    sts = "ACS3-HMAC-SHA256\n" + hashlib.sha256(canonical.encode()).hexdigest()
    sig = hmac.new(KEY[1].encode(), sts.encode(), hashlib.sha256).hexdigest()
    headers["Authorization"] = f"ACS3-HMAC-SHA256 Credential={KEY[0]},SignedHeaders={';'.join(names)},Signature={sig}"
    if tamper:
        payload = tamper(payload)
        headers["x-acs-content-sha256"] = hashlib.sha256(payload).hexdigest()
    req = urllib.request.Request(f"http://{host}/", data=payload, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_tampered_body_and_replayed_nonce_are_rejected(server):
    status, body = acs3_request(server, "GetProvisionedProductPlan", "PlanId=plan-nope")
    assert (status, body["Code"]) == (404, "InvalidProvisionedProductPlan.NotFound")
    assert set(body) >= {"RequestId", "HostId", "Code", "Message", "Recommend"}
    status, body = acs3_request(server, "GetProvisionedProductPlan", "PlanId=plan-nope", tamper=lambda b: b.replace(b"nope", b"evil"))
    assert (status, body["Code"]) == (400, "SignatureDoesNotMatch")
    nonce = uuid.uuid4().hex
    acs3_request(server, "GetProvisionedProductPlan", "PlanId=plan-a", nonce=nonce)
    status, body = acs3_request(server, "GetProvisionedProductPlan", "PlanId=plan-a", nonce=nonce)
    assert (status, body["Code"]) == (400, "SignatureNonceUsed")
    status, body = acs3_request(server, "NoSuchAction", "")
    assert (status, body["Code"]) == (404, "InvalidAction.NotFound")


def test_documented_validation_codes(server):
    c = client(server)
    cases = [
        (dict(product="prod-nope"), "InvalidProduct.NotFound"),
        (dict(version="pv-nope"), "InvalidProductVersion.NotFound"),
        (dict(tags={"aliyun:x": "v"}), "InvalidTagKey"),
        (dict(tags={"k": "acs:v"}), "InvalidTagValue"),
        (dict(portfolio="port-sbxreview0001"), "InvalidPortfolio.NotFound"),
    ]
    for kw, code in cases:
        with pytest.raises(Exception) as e:
            create(c, f"conf-v-{code}", **kw)
        assert e.value.code == code, kw
    with pytest.raises(Exception) as e:
        create(c, "x" * 129)
    assert e.value.code == "InvalidPlanName"


def test_plans_belong_to_the_principal_that_made_them(server):
    """Issue 12 (2): ListProvisionedProductPlans defaults to AccessLevelFilter=User (the caller's
    own plans); Account lists every principal's. Each access key is a principal here."""
    mine = create(client(server), "conf-principal-a")
    other = client(server, key=STS[:2], token=STS[2])
    ids = lambda body: {p.plan_id for p in body.plan_details}
    assert mine.plan_id not in ids(listing(other, page_size=100))
    assert mine.plan_id not in ids(listing(other, page_size=100, access_level_filter="User"))
    assert mine.plan_id in ids(listing(other, page_size=100, access_level_filter="Account"))
    assert mine.plan_id in ids(listing(client(server), page_size=100))
    detail = get(client(server), mine.plan_id).plan_detail
    # Issue 24: the owner is the key's RAM user by name (the key id is half a credential).
    assert (detail.owner_principal_type, detail.owner_principal_name) == ("RamUser", USER)
    assert get(other, create(other, "conf-principal-b").plan_id).plan_detail.owner_principal_name not in (STS[0], "")
    assert detail.owner_principal_id.isdigit() and len(detail.owner_principal_id) == 17


def test_an_empty_description_is_refused(server):
    """Issue 12 (7): Description is 1 to 128 characters; an empty one is InvalidDescription-like,
    not silently dropped."""
    c = client(server)
    req = models.CreateProvisionedProductPlanRequest(
        plan_name="conf-desc", plan_type="Ros", product_id="prod-sbxvpc0000001", product_version_id="pv-sbxvpc0000001",
        provisioned_product_name="conf-desc", stack_region_id="cn-hangzhou", description="",
        parameters=[models.CreateProvisionedProductPlanRequestParameters(parameter_key="cidr_block", parameter_value="10.0.0.0/16")])
    with pytest.raises(Exception) as e:
        c.create_provisioned_product_plan(req)
    assert "Description" in e.value.code, e.value.code


def test_portfolio_and_stack_as_the_seed_shows_them(server):
    """Issue 12 (7): like the seed's GetProvisionedProductPlan example, a plan names the portfolio
    it launches through (the product's default launch option when the request named none), and a
    plan for an existing product names that product's stack before it executes."""
    c = client(server)
    made = create(c, "conf-seed-shape", params={"cidr_block": "10.4.0.0/16"})
    d = get(c, made.plan_id).plan_detail
    assert d.portfolio_id == "port-sbxdemo000001" and d.stack_id is None
    wait_for(lambda: status_of(c, made.plan_id), lambda s: s == "PreviewSuccess")
    c.execute_provisioned_product_plan(models.ExecuteProvisionedProductPlanRequest(plan_id=made.plan_id))
    wait_for(lambda: status_of(c, made.plan_id), lambda s: s == "ExecuteSuccess")
    stack = get(c, made.plan_id).plan_detail.stack_id
    req = models.CreateProvisionedProductPlanRequest(
        plan_name="conf-seed-shape-2", plan_type="Ros", operation_type="UpdateProvisionedProduct", product_id="prod-sbxvpc0000001",
        product_version_id="pv-sbxvpc0000001", provisioned_product_name="conf-seed-shape", stack_region_id="cn-hangzhou",
        parameters=[models.CreateProvisionedProductPlanRequestParameters(parameter_key="cidr_block", parameter_value="10.5.0.0/16")])
    upd = c.create_provisioned_product_plan(req).body
    d = get(c, upd.plan_id).plan_detail
    assert d.stack_id == stack and d.stack_id is not None and d.portfolio_id == "port-sbxdemo000001"


def test_huge_page_numbers_give_an_empty_page(server):
    """Issue 16 (8): a PageNumber at the top of the integer range is an empty page, not an
    overflow."""
    c = client(server)
    body = listing(c, page_number=2**63 - 1, page_size=100)
    assert body.plan_details in (None, []) and body.page_number == 2**63 - 1
