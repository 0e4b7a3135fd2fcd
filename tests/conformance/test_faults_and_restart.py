"""Persistence across a SIGKILL, and fault injection with the real throttling errors."""

import boto3
import botocore
import pytest
from botocore.config import Config
from alibabacloud_servicecatalog20210901 import models

from conftest import KEY, Server
from test_alibaba import client as ali_client, create as ali_create, get as ali_get


def test_data_survives_sigkill(tmp_path):
    s = Server(tmp_path).start()
    try:
        c = ali_client(s)
        made = ali_create(c, "restart-net")
    finally:
        s.kill()
    s2 = Server(tmp_path).start()
    try:
        d = ali_get(ali_client(s2), made.plan_id).plan_detail
        assert d.plan_name == "restart-net" and d.provisioned_product_id == made.provisioned_product_id
    finally:
        s2.stop()


def test_throttling_answers_the_real_errors(tmp_path):
    s = Server(tmp_path, extra=["--throttle-rps", "1"]).start()
    try:
        codes = []
        c = ali_client(s)
        for _ in range(5):
            try:
                c.list_provisioned_product_plans(models.ListProvisionedProductPlansRequest())
                codes.append("ok")
            except Exception as e:  # ThrottlingException carries retry_after from x-acs-retry-after
                codes.append(type(e).__name__ + ":" + str(getattr(e, "code", "")))
                if type(e).__name__ == "ThrottlingException":
                    assert e.retry_after > 0
        assert "ok" in codes and any(x.startswith("ThrottlingException") for x in codes), codes
        aws = boto3.client("servicecatalog", endpoint_url=f"http://{s.endpoint}", region_name="us-east-1", aws_access_key_id=KEY[0], aws_secret_access_key=KEY[1], config=Config(retries={"max_attempts": 1}))
        errors = []
        for _ in range(5):
            try:
                aws.list_provisioned_product_plans()
            except botocore.exceptions.ClientError as e:
                errors.append(e.response["Error"]["Code"])
        assert "ThrottlingException" in errors
    finally:
        s.stop()


def test_failure_rate_answers_5xx(tmp_path):
    s = Server(tmp_path, extra=["--fail-rate", "1"]).start()
    try:
        aws = boto3.client("servicecatalog", endpoint_url=f"http://{s.endpoint}", region_name="us-east-1", aws_access_key_id=KEY[0], aws_secret_access_key=KEY[1], config=Config(retries={"max_attempts": 1}))
        with pytest.raises(botocore.exceptions.ClientError) as e:
            aws.list_provisioned_product_plans()
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] in (500, 503)
    finally:
        s.stop()
