from __future__ import annotations

import os
import tempfile
import textwrap
from pathlib import Path

import pytest

# no test writes into the user's own cloudauto home: tests that run jobs set a home of their own
os.environ.setdefault("CLOUDAUTO_HOME", tempfile.mkdtemp(prefix="cloudauto-test-home-"))

from cloudauto.spec import JobSpec, SpecError, SpecIssue

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted([*ROOT.glob("job_specs/*.yaml"), *ROOT.glob("job_specs/*/*.yaml")])

BASE = """\
name: demo-job
task: tabular_classification
data:
  train: ./train.csv
  label: target
metric: accuracy
"""


def dedent(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


@pytest.fixture
def spec_file(tmp_path: Path):
    def write(text: str, name: str = "spec.yaml") -> Path:
        path = tmp_path / name
        path.write_text(dedent(text), encoding="utf-8")
        return path

    return write


@pytest.fixture
def load(spec_file):
    def _load(text: str, **kwargs) -> JobSpec:
        return JobSpec.from_file(spec_file(text), **kwargs)

    return _load


@pytest.fixture
def problems(spec_file):
    """The issues a spec raises (fails the test if it validates)."""

    def _problems(text: str, **kwargs) -> list[SpecIssue]:
        path = spec_file(text)
        with pytest.raises(SpecError) as info:
            JobSpec.from_file(path, **kwargs)
        return [i for i in info.value.issues if i.level == "error"]

    return _problems


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def moto_server():
    """A moto server on loopback: every boto3 client goes to it through AWS_ENDPOINT_URL."""
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def aws(moto_server, monkeypatch):
    for key, value in {
        "AWS_ENDPOINT_URL": moto_server,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_MAX_ATTEMPTS": "1",
    }.items():
        monkeypatch.setenv(key, value)
    _unused_endpoint_answers()  # a test starts with moto's queue and cache of InvokeEndpoint answers empty
    yield moto_server
    left = _unused_endpoint_answers()
    # moto answers a repeated request (same endpoint, same body) from its cache without taking from the queue:
    # an answer a test queued and never got would be handed to the next test's endpoint
    assert not left, f"{left} queued InvokeEndpoint answer(s) were never asked for"


def _unused_endpoint_answers() -> int:
    """Empty moto's queues of endpoint answers and its cache of answers given (per endpoint and body: a repeated
    request is answered from it), the server running in this process, and say how many queued were left."""
    from moto.sagemakerruntime.models import sagemakerruntime_backends

    left = 0
    for regions in sagemakerruntime_backends.values():
        for backend in regions.values():
            left += len(backend.results_queue) + len(backend.async_results_queue)
            backend.results_queue.clear()
            backend.async_results_queue.clear()
            backend.results.clear()
            backend.async_results.clear()
    return left


@pytest.fixture
def http_dir(tmp_path):
    """A folder served over HTTP on loopback."""
    import functools
    import http.server
    import threading

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield tmp_path, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="session")
def example_images() -> Path:
    """job_specs/data/digits and the checkpoint folders, as `python job_specs/make_data.py digits checkpoints` makes
    them: image specs read their data, and image and text specs their checkpoint folders, at compile."""
    folder = ROOT / "job_specs" / "data"
    from job_specs import make_data

    if not (folder / "digits" / "train.csv").is_file():
        make_data.digits(folder)
    if not (folder / "checkpoints" / "tiny-bert" / "config.json").is_file():
        make_data.checkpoints(folder)
    if not make_data.foundation_is_current(folder):  # bike_forecast_chronos2.yaml's weights, as this make_data makes them
        make_data.foundation(folder)
    return folder / "digits"

# no test reads a real price source: a price refresh (submit, deploy) meets a closed loopback port at once
os.environ.setdefault("CLOUDAUTO_AWS_PRICING_URL", "http://127.0.0.1:9")
os.environ.setdefault("CLOUDAUTO_AZURE_PRICES_URL", "http://127.0.0.1:9/api/retail/prices")
# and the Price List Query API (boto3) neither: not the real one, nor the moto server a test points AWS_ENDPOINT_URL at
os.environ.setdefault("AWS_ENDPOINT_URL_PRICING", "http://127.0.0.1:9")
