"""The aws fixture gives each test a fresh moto: no InvokeEndpoint answer queued or cached by an earlier test."""

from __future__ import annotations

import boto3
import requests


def _queue(aws: str, body: str) -> None:
    requests.post(
        f"{aws}/moto-api/static/sagemaker/endpoint-results",
        json={"results": [{"Body": body, "ContentType": "text/plain"}]},
        timeout=10,
    ).raise_for_status()


def _invoke(name: str, body: str = "same rows") -> str:
    client = boto3.client("sagemaker-runtime", region_name="us-east-1")
    return client.invoke_endpoint(EndpointName=name, Body=body)["Body"].read().decode()


# the three run in this order: moto caches an answer per (endpoint, body), so the first's would leak into the others
def test_first_scores_endpoint_ep(aws):
    _queue(aws, "first test's answer")
    assert _invoke("ep") == "first test's answer"


def test_second_queues_its_own_answer_for_the_same_endpoint_and_body(aws):
    _queue(aws, "second test's answer")
    assert _invoke("ep") == "second test's answer"


def test_third_queues_nothing_and_gets_motos_default(aws):
    assert _invoke("ep") == "body"
