"""`planform drift` end to end: after an apply through the Alibaba client against `sandbox serve`,
the official Alibaba SDK changes things out of band; drift reports each in its category (text,
JSON and markdown) with exit 2; apply restores the manifests' intent; drift then exits 0."""

import json
import os
import subprocess

from alibabacloud_servicecatalog20210901 import models

from conftest import KEY, wait_for
from test_alibaba import client, get, status_of

MANIFEST = """
planform {{
  workspace = "drift"
}}

provider "alibaba" {{
  region   = "cn-hangzhou"
  endpoint = "http://{endpoint}"
}}

plan "net" {{
  name                     = "drift-net"
  product_id               = "prod-sbxvpc0000001"
  product_version_id       = "pv-sbxvpc0000001"
  provisioned_product_name = "drift-net"
  parameters               = {{ cidr_block = "10.0.0.0/16" }}
  execute                  = true
}}

plan "cfg" {{
  name                     = "drift-cfg"
  product_id               = "prod-sbxvpc0000001"
  product_version_id       = "pv-sbxvpc0000001"
  provisioned_product_name = "drift-cfg"
  parameters               = {{ cidr_block = "10.1.0.0/16" }}
}}

plan "app" {{
  name                     = "drift-app"
  product_id               = "prod-sbxecs0000001"
  product_version_id       = "pv-sbxecs0000002"
  provisioned_product_name = "drift-app"
  parameters = {{
    vpc_id          = plan.net.outputs.vpc_id
    instance_type   = "ecs.g7.large"
    fail_on_execute = "false"
  }}
}}
"""


def planform(workdir, *args):
    """Runs the real planform with credentials for both clouds' sandbox faces."""
    binary = os.environ.get("PLANFORM_BIN", os.path.join(os.path.dirname(__file__), "../../target/debug/planform"))
    env = dict(os.environ, ALIBABA_CLOUD_ACCESS_KEY_ID=KEY[0], ALIBABA_CLOUD_ACCESS_KEY_SECRET=KEY[1],
               AWS_ACCESS_KEY_ID=KEY[0], AWS_SECRET_ACCESS_KEY=KEY[1], AWS_EC2_METADATA_DISABLED="true",
               HOME=str(workdir), NO_COLOR="1")
    return subprocess.run([binary, "-C", str(workdir), *args], capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL)


def state_of(workdir):
    with open(os.path.join(workdir, ".planform", "state.json")) as f:
        return json.load(f)["plans"]


def test_drift_categories_then_apply_restores(server, tmp_path):
    (tmp_path / "main.hcl").write_text(MANIFEST.format(endpoint=server.endpoint))
    r = planform(tmp_path, "apply", "--auto-approve")
    assert r.returncode == 0, r.stdout + r.stderr
    r = planform(tmp_path, "drift")
    assert (r.returncode, r.stdout) == (0, "No drift. The cloud matches what planform applied.\n"), r.stdout + r.stderr

    plans = state_of(tmp_path)
    c = client(server)
    # 1. A parameter changed outside planform.
    cfg = plans["plan.cfg"]["plan_id"]
    c.update_provisioned_product_plan(models.UpdateProvisionedProductPlanRequest(plan_id=cfg, product_id="prod-sbxvpc0000001", product_version_id="pv-sbxvpc0000001",
        parameters=[models.UpdateProvisionedProductPlanRequestParameters(parameter_key="cidr_block", parameter_value="192.168.0.0/16")],
        tags=[models.UpdateProvisionedProductPlanRequestTags(key=k, value=v) for k, v in {"planform:workspace": "drift", "planform:address": "plan.cfg"}.items()]))
    # 2. A plan deleted outside planform.
    net = plans["plan.net"]["plan_id"]
    c.delete_provisioned_product_plan(models.DeleteProvisionedProductPlanRequest(plan_id=net))
    # 3. A plan left ExecuteFailed.
    app = plans["plan.app"]["plan_id"]
    detail = get(c, app).plan_detail
    params = {p.parameter_key: p.parameter_value for p in detail.parameters}
    params["fail_on_execute"] = "true"
    c.update_provisioned_product_plan(models.UpdateProvisionedProductPlanRequest(plan_id=app, product_id=detail.product_id, product_version_id=detail.product_version_id,
        parameters=[models.UpdateProvisionedProductPlanRequestParameters(parameter_key=k, parameter_value=v) for k, v in params.items()],
        tags=[models.UpdateProvisionedProductPlanRequestTags(key=t.key, value=t.value) for t in detail.tags]))
    wait_for(lambda: status_of(c, app), lambda s: s == "PreviewSuccess")
    c.execute_provisioned_product_plan(models.ExecuteProvisionedProductPlanRequest(plan_id=app))
    wait_for(lambda: status_of(c, app), lambda s: s == "ExecuteFailed")
    # 4. An extra plan carrying the workspace's ownership tag.
    ghost = c.create_provisioned_product_plan(models.CreateProvisionedProductPlanRequest(plan_name="ghost", plan_type="Ros", product_id="prod-sbxvpc0000001",
        product_version_id="pv-sbxvpc0000001", provisioned_product_name="ghost", stack_region_id="cn-hangzhou",
        parameters=[models.CreateProvisionedProductPlanRequestParameters(parameter_key="cidr_block", parameter_value="10.9.0.0/16")],
        tags=[models.CreateProvisionedProductPlanRequestTags(key="planform:workspace", value="drift"), models.CreateProvisionedProductPlanRequestTags(key="planform:address", value="plan.ghost")])).body.plan_id

    r = planform(tmp_path, "drift", "--format", "json")
    assert r.returncode == 2, r.stdout + r.stderr
    events = [json.loads(line) for line in r.stdout.splitlines()]
    found = {(e["address"], e["kind"]) for e in events if e["type"] == "drift"}
    # The failed plan's changed parameter goes with its status: whoever changed it, it did not take.
    assert found == {("plan.cfg", "changed"), ("plan.net", "deleted"), ("plan.app", "status"), ("plan.ghost", "unmanaged")}, found
    changed = next(e for e in events if e.get("address") == "plan.cfg")
    assert changed["changes"] == [{"path": 'parameters["cidr_block"]', "applied": "10.1.0.0/16", "now": "192.168.0.0/16"}]
    status = next(e for e in events if e.get("kind") == "status")
    assert "ExecuteFailed" in status["message"] and "InvalidInstanceType.NotSupported" in status["message"]
    assert status["changes"] == [{"path": 'parameters["fail_on_execute"]', "applied": "false", "now": "true"}], status
    summary = {k: v for k, v in events[-1].items() if not k.startswith("@")}
    assert summary == {"type": "drift_summary", "items": 4, "in_sync": False, "by_kind": {"changed": 1, "deleted": 1, "status": 1, "unmanaged": 1}}, summary

    text = planform(tmp_path, "drift")
    assert text.returncode == 2 and "plan.net [deleted]" in text.stdout and "plan.ghost [unmanaged]" in text.stdout
    report = tmp_path / "drift.md"
    md = planform(tmp_path, "drift", "--format", "markdown", "--out", str(report))
    assert md.returncode == 2 and md.stdout == ""
    assert report.read_text().startswith("### planform drift: `drift`") and "| `plan.cfg` | changed |" in report.read_text()
    ignored = planform(tmp_path, "drift", "--ignore", "plan.ghost", "--ignore", "plan.app", "--ignore", "plan.net", "--ignore", "plan.cfg")
    assert ignored.returncode == 0, ignored.stdout

    # Drift is read-only: nothing changed in the state.
    assert state_of(tmp_path) == plans

    r = planform(tmp_path, "apply", "--auto-approve")
    assert r.returncode == 0, r.stdout + r.stderr
    # The unmanaged plan is not planform's to touch: remove it where it came from.
    c.delete_provisioned_product_plan(models.DeleteProvisionedProductPlanRequest(plan_id=ghost))
    r = planform(tmp_path, "drift")
    assert r.returncode == 0, r.stdout + r.stderr
    r = planform(tmp_path, "plan", "--detailed-exitcode")
    assert r.returncode == 0, r.stdout + r.stderr


AWS_MANIFEST = """
planform {{
  workspace = "drift-aws"
}}

provider "aws" {{
  region   = "us-east-1"
  endpoint = "http://{endpoint}"
}}

plan "logs" {{
  name                     = "aws-logs"
  product_id               = "prod-sbxvpc0000001"
  product_version_id       = "pv-sbxvpc0000001"
  provisioned_product_name = "aws-logs"
  parameters               = {{ cidr_block = "10.0.0.0/16" }}
  execute                  = true
}}

plan "stage" {{
  name                     = "aws-stage"
  product_id               = "prod-sbxvpc0000001"
  product_version_id       = "pv-sbxvpc0000001"
  provisioned_product_name = "aws-stage"
  parameters               = {{ cidr_block = "10.3.0.0/16" }}
}}
"""


def test_drift_through_the_aws_provider_with_boto3_changes(server, tmp_path):
    import boto3
    (tmp_path / "main.hcl").write_text(AWS_MANIFEST.format(endpoint=server.endpoint))

    def run(*args):
        return planform(tmp_path, *args)

    r = run("apply", "--auto-approve")
    assert r.returncode == 0, r.stdout + r.stderr
    assert run("drift").returncode == 0
    plans = state_of(tmp_path)
    sc = boto3.client("servicecatalog", endpoint_url=f"http://{server.endpoint}", region_name="us-east-1", aws_access_key_id=KEY[0], aws_secret_access_key=KEY[1])
    # Out of band: the unexecuted plan is deleted, and someone adds a plan with our ownership tags.
    # It names every required parameter: a plan whose preview failed is finished history, not
    # drift, and whether drift saw it still previewing would depend on timing.
    sc.delete_provisioned_product_plan(PlanId=plans["plan.stage"]["plan_id"])
    extra = sc.create_provisioned_product_plan(PlanName="extra", PlanType="CLOUDFORMATION", ProductId="prod-sbxvpc0000001", ProvisioningArtifactId="pv-sbxvpc0000001",
        ProvisionedProductName="extra", ProvisioningParameters=[{"Key": "cidr_block", "Value": "10.8.0.0/16"}], Tags=[{"Key": "planform:workspace", "Value": "drift-aws"}, {"Key": "planform:address", "Value": "plan.extra"}])["PlanId"]
    r = run("drift", "--format", "json")
    assert r.returncode == 2, r.stdout + r.stderr
    found = {(e["address"], e["kind"]) for e in map(json.loads, r.stdout.splitlines()) if e["type"] == "drift"}
    assert found == {("plan.stage", "deleted"), ("plan.extra", "unmanaged")}, found
    r = run("apply", "--auto-approve")
    assert r.returncode == 0, r.stdout + r.stderr
    sc.delete_provisioned_product_plan(PlanId=extra)
    r = run("drift")
    assert r.returncode == 0, r.stdout + r.stderr


def test_a_product_updated_outside_planform_by_another_plan_is_drift(server, tmp_path):
    """Trial 3 F3: someone updates a managed product through the catalog (a console user's
    UpdateProvisionedProduct plan, executed) and leaves planform's plan alone. Drift reports the
    product's new inputs and how to give it the manifests' values again; `apply --replace`
    does, and drift is quiet again."""
    (tmp_path / "main.hcl").write_text(MANIFEST.format(endpoint=server.endpoint).replace('workspace = "drift"', 'workspace = "drift-outside"'))
    r = planform(tmp_path, "apply", "--auto-approve")
    assert r.returncode == 0, r.stdout + r.stderr
    net = state_of(tmp_path)["plan.net"]
    c = client(server)
    detail = get(c, net["plan_id"]).plan_detail
    made = c.create_provisioned_product_plan(models.CreateProvisionedProductPlanRequest(
        plan_name="console-update", plan_type="Ros", product_id=detail.product_id, product_version_id=detail.product_version_id,
        portfolio_id=detail.portfolio_id, provisioned_product_name=detail.provisioned_product_name, operation_type="UpdateProvisionedProduct",
        stack_region_id="cn-hangzhou",
        parameters=[models.CreateProvisionedProductPlanRequestParameters(parameter_key="cidr_block", parameter_value="172.16.0.0/16")])).body.plan_id
    wait_for(lambda: status_of(c, made), lambda s: s == "PreviewSuccess")
    c.execute_provisioned_product_plan(models.ExecuteProvisionedProductPlanRequest(plan_id=made))
    wait_for(lambda: status_of(c, made), lambda s: s == "ExecuteSuccess")

    r = planform(tmp_path, "drift", "--format", "json")
    assert r.returncode == 2, r.stdout + r.stderr
    items = [e for e in map(json.loads, r.stdout.splitlines()) if e["type"] == "drift"]
    assert [(e["address"], e["kind"], e["plan_id"]) for e in items] == [("plan.net", "changed", made)], items
    assert items[0]["changes"] == [{"path": 'parameters["cidr_block"]', "applied": "10.0.0.0/16", "now": "172.16.0.0/16"}]
    assert "was updated outside planform by " + made in items[0]["message"] and "apply --replace plan.net" in items[0]["message"]

    r = planform(tmp_path, "apply", "--auto-approve", "--replace", "plan.net")
    assert r.returncode == 0, r.stdout + r.stderr
    r = planform(tmp_path, "drift")
    assert r.returncode == 0, r.stdout + r.stderr
