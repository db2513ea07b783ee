"""Scoring a SageMaker endpoint by name with a role that may only invoke it (and describe the endpoint): the task
lookup's DescribeEndpointConfig / DescribeModel are refused (AccessDenied), and scoring carries on as tabular."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber

from cloudauto.spec.metrics import Task


def endpoint_with(code: str):
    from cloudauto_sagemaker.endpoint import SageMakerEndpoint

    session = boto3.Session(aws_access_key_id="k", aws_secret_access_key="s", region_name="us-east-1")
    endpoint = SageMakerEndpoint("ep-score", session=session)
    stub = Stubber(endpoint._sm)
    stub.add_response(
        "describe_endpoint",
        {
            "EndpointName": "ep-score",
            "EndpointArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint/ep-score",
            "EndpointConfigName": "ep-score",
            "EndpointStatus": "InService",
            "CreationTime": "2026-01-01T00:00:00Z",
            "LastModifiedTime": "2026-01-01T00:00:00Z",
        },
        {"EndpointName": "ep-score"},
    )
    stub.add_client_error("describe_endpoint_config", service_error_code=code, service_message="not allowed", http_status_code=400)
    stub.activate()
    return endpoint, stub


@pytest.mark.parametrize("code", ["AccessDeniedException", "AccessDenied"])
def test_a_role_that_may_only_invoke_scores_as_tabular(code):
    endpoint, stub = endpoint_with(code)
    assert endpoint.served_task() is None  # served as a tabular endpoint
    stub.assert_no_pending_responses()


def test_other_errors_still_say_what_failed():
    from cloudauto_sagemaker.submit import AWSError

    endpoint, _ = endpoint_with("ThrottlingException")
    with pytest.raises(AWSError, match="describe endpoint ep-score's model: ThrottlingException"):
        endpoint.served_task()


def test_a_caller_that_names_the_task_makes_no_describe_call():
    from cloudauto_sagemaker.endpoint import SageMakerEndpoint

    session = boto3.Session(aws_access_key_id="k", aws_secret_access_key="s", region_name="us-east-1")
    endpoint = SageMakerEndpoint("ep-score", session=session, task=Task.TIME_SERIES_FORECASTING)
    with Stubber(endpoint._sm):  # any call would fail: no response is queued
        assert endpoint.served_task() is Task.TIME_SERIES_FORECASTING
