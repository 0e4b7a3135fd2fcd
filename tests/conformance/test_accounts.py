"""STS GetCallerIdentity on both faces and accounts kept apart, judged by the official SDKs:
boto3's `sts.get_caller_identity()`, and Alibaba's GetCallerIdentity (RPC API 2015-04-01) through
the Alibaba OpenAPI core SDK (`alibabacloud_tea_openapi`'s generic `call_api`, both signature
algorithms; the dedicated `alibabacloud_sts20150401` package is not installed). A key of another
account (`USER@ACCOUNT=ID:SECRET`) sees none of the sandbox's own account's plans."""

import boto3
import botocore
import pytest
from alibabacloud_servicecatalog20210901 import models
from alibabacloud_servicecatalog20210901.client import Client
from alibabacloud_tea_openapi.models import Config, OpenApiRequest, Params
from alibabacloud_tea_util.models import RuntimeOptions
from botocore.config import Config as BotoConfig

from conftest import KEY, STS, USER, Server

# Another account's keys: an Alibaba one (16 digits) and an AWS one (12 digits).
OTHER = ("otherid", "othersecret")
OTHER_ACCOUNT = "2000000000000001"
OTHER_AWS = ("awsotherid", "awsothersecret")
OTHER_AWS_ACCOUNT = "210987654321"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("accounts"), extra=[
        "--access-key", f"ci@{OTHER_ACCOUNT}=" + ":".join(OTHER),
        "--access-key", f"ci@{OTHER_AWS_ACCOUNT}=" + ":".join(OTHER_AWS)]).start()
    yield s
    s.stop()


def aws(server, service, key=KEY, token=None):
    return boto3.client(service, endpoint_url=f"http://{server.endpoint}", region_name="us-east-1",
                        aws_access_key_id=key[0], aws_secret_access_key=key[1], aws_session_token=token,
                        config=BotoConfig(retries={"max_attempts": 1}))


def test_boto3_get_caller_identity_names_the_callers_account(server):
    me = aws(server, "sts").get_caller_identity()
    assert me["Account"] == "123456789012"
    assert me["Arn"] == f"arn:aws:iam::123456789012:user/{USER}"
    assert me["UserId"].startswith("AIDA")
    other = aws(server, "sts", OTHER_AWS).get_caller_identity()
    assert other["Account"] == OTHER_AWS_ACCOUNT and other["Arn"] == f"arn:aws:iam::{OTHER_AWS_ACCOUNT}:user/ci"
    with_token = aws(server, "sts", STS[:2], token=STS[2]).get_caller_identity()
    assert with_token["Account"] == "123456789012"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        aws(server, "sts", (KEY[0], "not-the-secret")).get_caller_identity()
    assert e.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    with pytest.raises(botocore.exceptions.ClientError) as e:
        aws(server, "sts", ("nobody", "x")).get_caller_identity()
    assert e.value.response["Error"]["Code"] == "InvalidClientTokenId"


def ali_identity(server, key, algorithm=None):
    cfg = Config(access_key_id=key[0], access_key_secret=key[1], endpoint=server.endpoint, protocol="http",
                 region_id="cn-hangzhou")
    if algorithm:
        cfg.signature_algorithm = algorithm
    params = Params(action="GetCallerIdentity", version="2015-04-01", protocol="HTTP", pathname="/", method="POST",
                    auth_type="AK", style="RPC", req_body_type="formData", body_type="json")
    return Client(cfg).call_api(params, OpenApiRequest(), RuntimeOptions())["body"]


@pytest.mark.parametrize("algorithm", [None, "v2"])
def test_alibaba_get_caller_identity_names_the_callers_account(server, algorithm):
    me = ali_identity(server, KEY, algorithm)
    assert me["AccountId"] == "1234567890123456" and me["IdentityType"] == "RAMUser"
    assert me["Arn"] == f"acs:ram::1234567890123456:user/{USER}"
    assert me["RequestId"] and me["UserId"] == me["PrincipalId"]
    other = ali_identity(server, OTHER, algorithm)
    assert other["AccountId"] == OTHER_ACCOUNT and other["Arn"] == f"acs:ram::{OTHER_ACCOUNT}:user/ci"
    with pytest.raises(Exception) as e:
        ali_identity(server, (KEY[0], "not-the-secret"), algorithm)
    assert e.value.code == "SignatureDoesNotMatch"


def test_a_key_of_another_account_sees_none_of_this_accounts_plans(server):
    def sc(key):
        return Client(Config(access_key_id=key[0], access_key_secret=key[1], endpoint=server.endpoint,
                             protocol="http", region_id="cn-hangzhou"))

    def listing(key):
        req = models.ListProvisionedProductPlansRequest(access_level_filter="Account")
        return sc(key).list_provisioned_product_plans(req).body

    made = sc(KEY).create_provisioned_product_plan(models.CreateProvisionedProductPlanRequest(
        plan_name="acct-net", plan_type="Ros", product_id="prod-sbxvpc0000001", product_version_id="pv-sbxvpc0000001",
        provisioned_product_name="acct-net", stack_region_id="cn-hangzhou",
        parameters=[models.CreateProvisionedProductPlanRequestParameters(parameter_key="cidr_block",
                                                                        parameter_value="10.0.0.0/16")])).body
    assert made.plan_id in [p.plan_id for p in listing(KEY).plan_details]
    assert listing(OTHER).total_count == 0
    with pytest.raises(Exception) as e:
        sc(OTHER).get_provisioned_product_plan(models.GetProvisionedProductPlanRequest(plan_id=made.plan_id))
    assert e.value.status_code == 404

    mine = aws(server, "servicecatalog")
    mine.create_provisioned_product_plan(PlanName="acct-net", PlanType="CLOUDFORMATION",
                                         ProductId="prod-sbxvpc0000001", ProvisioningArtifactId="pv-sbxvpc0000001",
                                         ProvisionedProductName="acct-net",
                                         ProvisioningParameters=[{"Key": "cidr_block", "Value": "10.0.0.0/16"}])
    account = {"Key": "Account", "Value": "self"}
    assert [p["PlanName"] for p in mine.list_provisioned_product_plans(AccessLevelFilter=account)
            ["ProvisionedProductPlans"]] == ["acct-net"]
    theirs = aws(server, "servicecatalog", OTHER_AWS)
    assert theirs.list_provisioned_product_plans(AccessLevelFilter=account)["ProvisionedProductPlans"] == []
