"""The local endpoint: SageMaker and Azure routes, one score() client, bad input, bounded load."""

from __future__ import annotations

import http.client
import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlparse

import pandas as pd
import pytest

import cloudauto
from cloudauto.scoring import HTTPScorer, ScoringError

from .conftest import finished_iris_job

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    """One iris trial, its model served; shared by the tests of this module."""
    root = tmp_path_factory.mktemp("endpoint")
    with finished_iris_job(root) as job:
        endpoint = job.deploy(name="iris-test")
        secured = job.deploy(name="iris-secured", key="s3cret")
        yield job, endpoint, secured, root
        endpoint.delete()
        secured.delete()


def _npy(rows: list) -> bytes:
    import io

    import numpy as np

    out = io.BytesIO()
    np.save(out, np.array(rows))
    return out.getvalue()


def request(url: str, method: str, path: str, body: bytes = b"", headers: dict | None = None) -> tuple[int, bytes]:
    parsed = urlparse(url)
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    return response.status, response.read()


def test_predictions_equal_the_predictor_in_process(deployed):
    from autogluon.tabular import TabularPredictor

    job, endpoint, _, root = deployed
    test = pd.read_csv(root / "iris" / "test.csv")
    rows = test.drop(columns=["target"])
    served = endpoint.score(rows)
    model_dir = Path(job.best_trial().artifacts["dir"]) / "model"
    expected = TabularPredictor.load(str(model_dir)).predict(rows)
    assert list(served["prediction"]) == list(expected)
    assert (served["prediction"] == test["target"]).mean() >= 0.9


def test_every_input_form_and_batching_give_the_same_answer(deployed):
    _, endpoint, _, root = deployed
    test_csv = root / "iris" / "test.csv"
    frame = pd.read_csv(test_csv).drop(columns=["target"])
    whole = endpoint.score(frame)
    assert whole.equals(endpoint.score(frame.to_dict(orient="records")))
    assert list(endpoint.score(test_csv)["prediction"]) == list(whole["prediction"])  # the label column is ignored
    small = HTTPScorer(endpoint.url, max_rows=7)  # 30 rows -> 5 requests
    assert small.score(frame).equals(whole)


def test_ping_and_the_azure_route(deployed):
    _, endpoint, _, _ = deployed
    status, body = request(endpoint.url, "GET", "/ping")
    assert status == 200 and json.loads(body)["status"] == "healthy"
    columns = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]
    payload = {"input_data": {"columns": columns, "data": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]}}
    status, body = request(endpoint.url, "POST", "/score", json.dumps(payload).encode(), {"Content-Type": "application/json"})
    assert status == 200 and [r["prediction"] for r in json.loads(body)] == [0, 2]


def test_npy_in_and_out_as_sagemakers_numpy_serializers_send_it(deployed):
    import io

    import numpy as np

    from cloudauto.scoring import npy_body

    _, endpoint, _, root = deployed
    frame = pd.read_csv(root / "iris" / "test.csv").drop(columns=["target"])
    status, body = request(endpoint.url, "POST", "/invocations", frame.to_csv(index=False).encode(), {"Content-Type": "text/csv"})
    expected = [r["prediction"] for r in json.loads(body)]
    npy = {"Content-Type": "application/x-npy"}
    # a plain array in the order /ping lists the features, as NumpySerializer writes it
    status, body = request(endpoint.url, "POST", "/invocations", _npy(frame.to_numpy().tolist()), npy)
    assert status == 200 and [r["prediction"] for r in json.loads(body)] == expected
    # columns by name, in any order; the answer as npy too
    status, body = request(
        endpoint.url, "POST", "/invocations", npy_body(frame[frame.columns[::-1]]), {**npy, "Accept": "application/x-npy"}
    )
    assert status == 200 and np.load(io.BytesIO(body)).tolist() == expected
    status, body = request(
        endpoint.url, "POST", "/invocations?probabilities=true", npy_body(frame), {**npy, "Accept": "application/x-npy"}
    )
    answer = np.load(io.BytesIO(body))
    assert answer.dtype.names == ("prediction", "proba_0", "proba_1", "proba_2")
    assert answer["prediction"].tolist() == expected
    assert np.allclose(np.stack([answer[f"proba_{c}"] for c in range(3)], axis=1).sum(axis=1), 1.0)


@pytest.mark.parametrize(
    ("body", "headers", "status", "words"),
    [
        (b"", {"Content-Type": "text/csv"}, 400, "empty"),
        (b"a,b\n1,2\n", {"Content-Type": "text/csv"}, 400, "missing columns"),
        (
            b"sepal length (cm),sepal width (cm),petal length (cm),petal width (cm)\nx,1,2,3\n",
            {"Content-Type": "text/csv"},
            400,
            "takes numbers",
        ),
        (b"{not json", {"Content-Type": "application/json"}, 400, "cannot read"),
        (b'{"nothing": 1}', {"Content-Type": "application/json"}, 400, "JSON must be"),
        (b"x", {"Content-Type": "text/plain"}, 415, "not supported"),
        (
            b"sepal length (cm),sepal width (cm),petal length (cm),petal width (cm)\n1,1,2,3\n",
            {"Content-Type": "text/csv", "Accept": "image/png"},
            406,
            "cannot answer",
        ),
        (b"a" * (6 * 1024 * 1024 + 1), {"Content-Type": "text/csv"}, 413, "limit"),
        (b"\x93NUMPY\x01\x00cut", {"Content-Type": "application/x-npy"}, 400, "cannot read the application/x-npy body"),
        (_npy([[1.0, 2.0]]), {"Content-Type": "application/x-npy"}, 400, "takes 4, in this order: sepal length (cm)"),
    ],
    ids=["empty", "columns", "types", "bad-json", "json-shape", "content-type", "accept", "too-large", "npy", "npy-columns"],
)
def test_bad_payloads_get_a_4xx_with_a_message(deployed, body, headers, status, words):
    _, endpoint, _, _ = deployed
    got, answer = request(endpoint.url, "POST", "/invocations", body, headers)
    assert got == status
    assert words in json.loads(answer)["error"]


def test_ping_answers_while_the_one_worker_predicts_a_large_batch(deployed):
    """SageMaker pings a container during traffic and replaces one that does not answer."""
    _, endpoint, _, root = deployed
    frame = pd.read_csv(root / "iris" / "test.csv").drop(columns=["target"])
    body = pd.concat([frame] * 6000, ignore_index=True).to_csv(index=False).encode()  # 180,000 rows
    assert len(body) < 6 * 1024 * 1024
    finished: list[float] = []

    def score_big() -> None:
        status, _ = request(endpoint.url, "POST", "/invocations", body, {"Content-Type": "text/csv"})
        assert status == 200
        finished.append(time.monotonic())

    started = time.monotonic()
    big = threading.Thread(target=score_big)
    big.start()
    pings: list[tuple[float, float]] = []  # (asked at, seconds to the answer)
    while big.is_alive():
        asked = time.monotonic()
        status, _ = request(endpoint.url, "GET", "/ping")
        assert status == 200
        pings.append((asked, time.monotonic() - asked))
        time.sleep(0.02)
    big.join()
    batch = finished[0] - started
    during = [waited for asked, waited in pings if asked < finished[0]]
    assert max(during) < batch / 4, f"a /ping waited {max(during):.2f}s behind a {batch:.2f}s batch"
    assert len(during) >= 3, f"the batch took {batch:.2f}s: too short to ping during it"


def test_bearer_key(deployed):
    _, _, secured, root = deployed
    frame = pd.read_csv(root / "iris" / "test.csv").drop(columns=["target"]).head(3)
    assert len(secured.score(frame)) == 3
    with pytest.raises(ScoringError, match="401.*bearer key"):
        HTTPScorer(secured.url, key="wrong").score(frame)


def test_bounded_load_has_no_errors(deployed):
    """10,000 single-row requests from 16 threads on loopback: every one answered, none failed."""
    _, endpoint, _, root = deployed
    frame = pd.read_csv(root / "iris" / "test.csv").drop(columns=["target"])
    rows = [frame.iloc[[i]].to_csv(index=False).encode() for i in range(len(frame))]
    requests = 10_000
    scorer = HTTPScorer(endpoint.url, retries=0)

    def one(i: int) -> int:
        return len(json.loads(scorer.post(rows[i % len(rows)])))

    start = time.monotonic()
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(one, range(requests)))
    assert results == [1] * requests
    assert time.monotonic() - start < 300


def test_client_retries_throttling_then_reports_the_endpoint_message():
    import http.server

    answers = iter([429, 503, 200, 400])

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            self.rfile.read(int(self.headers["Content-Length"]))
            status = next(answers)
            body = b'[{"prediction": 1}]' if status == 200 else json.dumps({"error": f"status {status}"}).encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Retry-After", "0")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        scorer = HTTPScorer(f"http://127.0.0.1:{server.server_address[1]}", backoff=0.01)
        assert scorer.score([{"a": 1}])["prediction"].tolist() == [1]  # after a 429 and a 503
        with pytest.raises(ScoringError, match="answered 400: status 400"):
            scorer.score([{"a": 1}])
    finally:
        server.shutdown()


def test_cli_score_and_delete(deployed, tmp_path):
    import subprocess
    import sys

    job, _, _, root = deployed
    exe = str(Path(sys.executable).with_name("cloudauto"))
    temp = job.deploy(name="iris-cli")
    out = subprocess.run(
        [exe, "score", "iris-cli", str(root / "iris" / "test.csv"), "-o", str(tmp_path / "p.csv")], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert len(pd.read_csv(tmp_path / "p.csv")) == 30
    # user mistakes: said before scoring, no traceback
    image = tmp_path / "photo.png"
    image.write_bytes(b"\x89PNG\r\n")
    for args, code, words in (
        (["-o", str(tmp_path / "no" / "dir" / "p.csv")], 64, f"--output {tmp_path / 'no' / 'dir' / 'p.csv'}: there is no folder"),
        (["-o", str(tmp_path)], 64, "is a directory"),
    ):
        bad = subprocess.run([exe, "score", "iris-cli", str(root / "iris" / "test.csv"), *args], capture_output=True, text=True)
        assert bad.returncode == code and words in bad.stderr and "Traceback" not in bad.stderr, bad.stderr
    bad = subprocess.run([exe, "score", "iris-cli", str(image)], capture_output=True, text=True)
    assert bad.returncode == 5 and "photo.png is an image: this call scores rows" in bad.stderr, bad.stderr
    assert subprocess.run([exe, "delete-endpoint", "iris-cli"], capture_output=True).returncode == 0
    with pytest.raises(ScoringError):
        HTTPScorer(temp.url, retries=0, timeout=2).score(pd.read_csv(root / "iris" / "test.csv"))
    missing = subprocess.run([exe, "score", "no-such-endpoint", str(root / "iris" / "test.csv")], capture_output=True, text=True)
    assert missing.returncode == 5 and "no local endpoint 'no-such-endpoint'" in missing.stderr


def test_class_probabilities_on_request(deployed):
    _, endpoint, _, root = deployed
    rows = pd.read_csv(root / "iris" / "test.csv").drop(columns=["target"]).head(5)
    plain = endpoint.score(rows)
    with_proba = endpoint.score(rows, probabilities=True)
    assert list(plain.columns) == ["prediction"]
    assert list(with_proba.columns) == ["prediction", "proba_0", "proba_1", "proba_2"]
    assert (with_proba["prediction"] == plain["prediction"]).all()
    assert with_proba[["proba_0", "proba_1", "proba_2"]].sum(axis=1).round(6).eq(1).all()


def _pool_workers(server_pid: int) -> list[int]:
    """The model workers a server started (multiprocessing's spawned children; not its resource tracker)."""
    children = Path(f"/proc/{server_pid}/task/{server_pid}/children").read_text().split()
    return [int(c) for c in children if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def test_two_workers_share_the_requests_and_answer_alike(deployed):
    """Each request goes to a free copy of the model: both workers work, answers equal one worker's."""
    job, endpoint, _, root = deployed
    frame = pd.concat([pd.read_csv(root / "iris" / "test.csv").drop(columns=["target"])] * 200, ignore_index=True)
    pooled = job.deploy(name="iris-pooled", workers=2)
    try:
        status, body = request(pooled.url, "GET", "/ping")
        assert status == 200 and json.loads(body)["workers"] == 2
        workers = _pool_workers(pooled.record.pid)
        assert len(workers) == 2
        before = {pid: _cpu_ticks(pid) for pid in workers}
        served = pooled.score(frame, concurrency=2)  # 6 batches of 1,000 rows, two in flight
        assert served.equals(endpoint.score(frame, concurrency=1))
        assert all(_cpu_ticks(pid) > before[pid] for pid in workers), "a worker took no request"
        status, answer = request(pooled.url, "POST", "/invocations", b"sepal length (cm)\nx\n", {"Content-Type": "text/csv"})
        assert status == 400 and "missing columns" in json.loads(answer)["error"]
    finally:
        pooled.delete()
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers)  # delete took the workers down too


def test_a_dead_worker_is_replaced_and_the_request_retried(deployed):
    import os
    import signal

    job, _, _, root = deployed
    rows = pd.read_csv(root / "iris" / "test.csv").drop(columns=["target"])
    pooled = job.deploy(name="iris-pool-crash", workers=2)
    try:
        first = _pool_workers(pooled.record.pid)
        os.kill(first[0], signal.SIGKILL)
        time.sleep(0.5)
        # the request that finds the pool broken gets a 503, which score() retries after the restart
        assert pooled.score(rows)["prediction"].tolist() == endpoint_predictions(job, rows)
        again = _pool_workers(pooled.record.pid)
        assert len(again) == 2 and first[0] not in again
    finally:
        pooled.delete()


def endpoint_predictions(job, rows: pd.DataFrame) -> list:
    from autogluon.tabular import TabularPredictor

    return TabularPredictor.load(str(Path(job.best_trial().artifacts["dir"]) / "model")).predict(rows).tolist()


def test_deploy_refuses_options_it_does_not_take(deployed):
    from cloudauto.backend import NotSupportedError

    job, _, _, _ = deployed
    with pytest.raises(NotSupportedError, match="takes no instance_type, wokers; it takes name, port"):
        job.deploy(name="x", instance_type="ml.m5.xlarge", wokers=2)
    with pytest.raises(cloudauto.CloudautoError, match="workers must be at least 1, not 0"):
        job.deploy(name="x", workers=0)
    with pytest.raises(NotSupportedError, match="docker-mode endpoint runs one serving process"):
        job.deploy(name="x", mode="docker", workers=2)


def test_cli_deploy_a_chosen_trial_score_probabilities_and_names_that_are_slugs(deployed, tmp_path):
    import subprocess
    import sys

    from cloudauto_local.paths import endpoints_dir

    job, _, _, root = deployed
    exe = str(Path(sys.executable).with_name("cloudauto"))
    env = {**os.environ, "CLOUDAUTO_HOME": str(root / "home")}
    test_csv = str(root / "iris" / "test.csv")
    made = subprocess.run(
        [exe, "deploy", job.id, "--trial", "0", "--name", "iris-trial0"], capture_output=True, text=True, env=env
    )
    assert made.returncode == 0, made.stderr
    scored = subprocess.run([exe, "score", "iris-trial0", test_csv, "--probabilities"], capture_output=True, text=True, env=env)
    assert scored.returncode == 0, scored.stderr
    assert scored.stdout.splitlines()[0] == "prediction,proba_0,proba_1,proba_2" and len(scored.stdout.splitlines()) == 31
    folder = root / "home" / "endpoints"
    assert (folder / "iris-trial0.json").is_file() and (folder / "iris-trial0.log").is_file()
    assert subprocess.run([exe, "delete-endpoint", "iris-trial0"], capture_output=True, env=env).returncode == 0
    again = subprocess.run([exe, "delete-endpoint", "iris-trial0"], capture_output=True, text=True, env=env)
    assert again.returncode == 0 and "endpoint 'iris-trial0' was already deleted at " in again.stderr, again.stderr
    assert "deploy the job again" not in again.stderr
    # the record and the server's log are gone; what is left says it was removed
    assert [p.name for p in folder.glob("iris-trial0*")] == ["iris-trial0.removed.json"]
    for args, words in (
        (["--trial", "7"], f"job {job.id} has no trial 7: its trials are 0 to 0"),
        (["--name", "../escaped"], "endpoint name '../escaped': 1 to 63 letters, digits and hyphens"),
    ):
        bad = subprocess.run([exe, "deploy", job.id, *args], capture_output=True, text=True, env=env)
        assert bad.returncode != 0 and words in bad.stderr and "Traceback" not in bad.stderr, bad.stderr
    assert not (root / "home" / "escaped.json").exists() and endpoints_dir() == folder


def _cloudauto(*args: str, env: dict | None = None):
    import subprocess
    import sys

    exe = str(Path(sys.executable).with_name("cloudauto"))
    return subprocess.run([exe, *args], capture_output=True, text=True, env=env)


def test_the_server_says_who_it_is_on_ping_and_every_answer(deployed):
    from cloudauto.scoring import IDENTITY_HEADER, identity_header

    job, endpoint, _, _ = deployed
    status, body = request(endpoint.url, "GET", "/ping")
    said = json.loads(body)["endpoint"]
    assert said == endpoint.record.identity()
    assert (said["name"], said["job"], said["trial"]) == ("iris-test", job.id, job.best_trial().number)
    assert len(said["model"]) == 16 and said["instance"]
    parsed = urlparse(endpoint.url)
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
    conn.request("POST", "/invocations", body=b"x", headers={"Content-Type": "text/plain"})
    refused = conn.getresponse()
    assert refused.status == 415 and refused.getheader(IDENTITY_HEADER) == identity_header(said)  # refusals too


def test_a_second_deploy_on_a_busy_port_is_refused_naming_the_port_and_leaves_nothing(deployed, monkeypatch):
    from cloudauto_local import endpoint as local_endpoint
    from cloudauto_local.paths import endpoints_dir

    job, endpoint, _, root = deployed
    port = urlparse(endpoint.url).port
    made = _cloudauto("deploy", job.id, "--name", "iris-busy", "--port", str(port))
    assert made.returncode == 5, made.stderr
    assert f"port {port} on 127.0.0.1 is taken by endpoint 'iris-test'" in made.stderr and "Traceback" not in made.stderr
    assert not list(endpoints_dir().glob("iris-busy*"))
    listed = _cloudauto("endpoints", "--format", "json")
    assert "iris-busy" not in listed.stdout
    # the port taken between the check and the server's start: the server's own failure is the error
    monkeypatch.setattr(local_endpoint, "_port_taken", lambda host, port: None)
    with pytest.raises(
        local_endpoint.EndpointError,
        match=f"port {port} on 127.0.0.1 is taken by endpoint 'iris-test' of job {job.id} \\(address already in use\\)",
    ):
        job.deploy(name="iris-busy", port=port)
    assert not list(endpoints_dir().glob("iris-busy*"))
    scored = _cloudauto("score", "iris-test", str(root / "iris" / "test.csv"))
    assert scored.returncode == 0 and len(scored.stdout.splitlines()) == 31


def test_the_client_refuses_answers_from_another_endpoints_server(deployed):
    """A record whose server died and whose port another endpoint took: an error naming both, never predictions."""
    from dataclasses import asdict, replace

    from cloudauto_local.endpoint import EndpointError, _write_private, attach
    from cloudauto_local.paths import endpoints_dir

    job, endpoint, _, root = deployed
    gone = replace(endpoint.record, name="iris-gone", instance="0123456789ab")
    _write_private(endpoints_dir() / "iris-gone.json", json.dumps(asdict(gone)))
    try:
        rows = pd.read_csv(root / "iris" / "test.csv").drop(columns=["target"])
        with pytest.raises(
            EndpointError, match=f"{endpoint.url} is served by endpoint 'iris-test' .* not by endpoint 'iris-gone'"
        ):
            attach("iris-gone").score(rows)
        with pytest.raises(ScoringError, match="answered as name=iris-test.*not as endpoint 'iris-gone'"):
            attach("iris-gone")._scorer.score(rows)  # past the check on connect: every answer is checked too
        listed = {e["name"]: e["status"] for e in json.loads(_cloudauto("endpoints", "--format", "json").stdout)}
        assert listed["iris-gone"] == "stopped" and listed["iris-test"] == "serving"
        scored = _cloudauto("score", "iris-gone", str(root / "iris" / "test.csv"))
        assert scored.returncode == 5 and "is served by endpoint 'iris-test'" in scored.stderr and not scored.stdout
    finally:
        (endpoints_dir() / "iris-gone.json").unlink()


def test_the_endpoint_key_is_kept_as_a_hash(deployed, monkeypatch):
    from cloudauto_local.endpoint import EndpointError, attach, key_matches
    from cloudauto_local.paths import endpoints_dir

    _, _, secured, root = deployed
    record = endpoints_dir() / "iris-secured.json"
    for path in endpoints_dir().iterdir():
        assert b"s3cret" not in path.read_bytes(), path
    stored = json.loads(record.read_text())["key_hash"]
    assert stored.startswith("scrypt$") and key_matches("s3cret", stored) and not key_matches("s3cre", stored)
    assert record.stat().st_mode & 0o777 == 0o600
    rows = pd.read_csv(root / "iris" / "test.csv").drop(columns=["target"]).head(3)
    monkeypatch.delenv("CLOUDAUTO_ENDPOINT_KEY", raising=False)
    with pytest.raises(EndpointError, match="takes a bearer key: set CLOUDAUTO_ENDPOINT_KEY"):
        attach("iris-secured").score(rows)
    monkeypatch.setenv("CLOUDAUTO_ENDPOINT_KEY", "wrong")
    with pytest.raises(EndpointError, match="CLOUDAUTO_ENDPOINT_KEY is not the key endpoint 'iris-secured' was deployed with"):
        attach("iris-secured").score(rows)
    monkeypatch.setenv("CLOUDAUTO_ENDPOINT_KEY", "s3cret")
    assert len(attach("iris-secured").score(rows)) == 3
    scored = _cloudauto("score", "iris-secured", str(root / "iris" / "test.csv"))
    assert scored.returncode == 0 and len(scored.stdout.splitlines()) == 31, scored.stderr


def chunked_post(url: str, total: int, key: str | None = None, piece: int = 1 << 20) -> int:
    """POST `total` bytes of CSV-looking text as a chunked body; the status the server answered (0: none)."""
    import socket

    parsed = urlparse(url)
    sock = socket.create_connection((parsed.hostname, parsed.port), timeout=60)
    auth = f"Authorization: Bearer {key}\r\n" if key else ""
    sock.sendall(
        f"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\n{auth}Transfer-Encoding: chunked\r\n\r\n".encode()
    )
    block = b"%x\r\n" % piece + b"1" * piece + b"\r\n"
    answer = bytearray()

    def read() -> None:
        while b"\r\n" not in answer:
            got = sock.recv(65536)
            if not got:
                return
            answer.extend(got)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    sent = 0
    try:
        while sent < total and reader.is_alive():
            sock.sendall(block)
            sent += piece
        sock.sendall(b"0\r\n\r\n")
    except OSError:
        pass  # the server stopped reading and closed: its answer came first
    reader.join(60)
    sock.close()
    line = bytes(answer).split(b"\r\n", 1)[0].split()
    return int(line[1]) if len(line) > 1 else 0


def peak_rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmHWM")).split()[1]) / 1024


def test_a_chunked_body_over_the_limit_is_refused_while_it_streams(deployed):
    """200 MB chunked: a 413 once the limit is passed, and the server's peak memory moves by less than the body."""
    job, _, _, root = deployed
    served = job.deploy(name="iris-chunked", key="k3y")
    try:
        before = peak_rss_mb(served.record.pid)
        assert chunked_post(served.url, 200 << 20, key="k3y") == 413
        assert peak_rss_mb(served.record.pid) - before < 64, (before, peak_rss_mb(served.record.pid))
        assert chunked_post(served.url, 200 << 20) == 401  # without the key: refused before the body is read
        rows = pd.read_csv(root / "iris" / "test.csv").drop(columns=["target"])
        small = rows.to_csv(index=False).encode()
        status, body = request(
            served.url, "POST", "/invocations", small, {"Content-Type": "text/csv", "Authorization": "Bearer k3y"}
        )
        assert status == 200 and len(json.loads(body)) == 30  # a body under the limit is read whole
    finally:
        served.delete()


def test_hostile_bodies_among_valid_traffic_get_no_5xx(deployed):
    """Deep JSON, integers past a float, a duplicated column, short and empty rows, mixed with good requests."""
    _, endpoint, _, root = deployed
    rows = pd.read_csv(root / "iris" / "test.csv").drop(columns=["target"])
    columns = list(rows.columns)
    header = ",".join(columns).encode()
    good = rows.head(5).to_csv(index=False).encode()
    csv_type, json_type = {"Content-Type": "text/csv"}, {"Content-Type": "application/json"}
    hostile = [
        (b"[" * 100_000 + b"]" * 100_000, json_type, "/invocations"),
        (
            b'{"input_data": {"columns": '
            + json.dumps(columns).encode()
            + b', "data": '
            + b"[" * 100_000
            + b"]" * 100_000
            + b"}}",
            json_type,
            "/score",
        ),
        (json.dumps({"data": [[10**400, 1, 1, 1]]}).encode(), json_type, "/invocations"),
        (json.dumps([dict(zip(columns, [10**400, 1, 1, 1], strict=True))]).encode(), json_type, "/invocations"),
        (header + b"," + columns[0].encode() + b"\n1,2,3,4,5\n", csv_type, "/invocations"),
        (header + b"\n14.1,2\n", csv_type, "/invocations"),
        (header + b"\n,,,\n", csv_type, "/invocations"),
        (header + b"\n1,2,3,4,5\n", csv_type, "/invocations"),
        (json.dumps({"input_data": {"columns": columns, "data": [[14.1, 2]]}}).encode(), json_type, "/score"),
        (b'{"data": [[1, 2, 3, [4]]]}', json_type, "/invocations"),
    ]
    traffic = [(good, csv_type, "/invocations", True)] * 200 + [(b, h, p, False) for b, h, p in hostile] * 10
    import random

    random.Random(7).shuffle(traffic)

    def one(item) -> tuple[int, bool, bytes]:
        body, headers, path, valid = item
        status, answer = request(endpoint.url, "POST", path, body, headers)
        return status, valid, answer

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(one, traffic))
    assert not [(s, a[:200]) for s, _, a in results if s >= 500]
    assert all(s == 200 for s, valid, _ in results if valid)
    assert not [(s, a[:200]) for s, valid, a in results if not valid and not 400 <= s < 500]


def test_a_port_freed_by_a_deleted_endpoint_serves_again(deployed):
    """Its closed connections wait out TIME_WAIT on the port: that is no reason to refuse it."""
    job, _, _, root = deployed
    first = job.deploy(name="iris-port-a")
    port = urlparse(first.url).port
    rows = pd.read_csv(root / "iris" / "test.csv").drop(columns=["target"])
    assert len(first.score(rows)) == 30
    first.delete()
    second = job.deploy(name="iris-port-b", port=port)
    try:
        assert second.url == first.url and len(second.score(rows)) == 30
    finally:
        second.delete()


def test_cli_score_writes_parquet_for_a_parquet_output(deployed, tmp_path):
    _, _, _, root = deployed
    test_csv = str(root / "iris" / "test.csv")
    as_csv = _cloudauto("score", "iris-test", test_csv, "--probabilities", "-o", str(tmp_path / "p.csv"))
    as_parquet = _cloudauto("score", "iris-test", test_csv, "--probabilities", "-o", str(tmp_path / "p.parquet"))
    assert as_csv.returncode == 0 and as_parquet.returncode == 0, as_parquet.stderr
    assert (tmp_path / "p.parquet").read_bytes()[:4] == b"PAR1"
    written = pd.read_parquet(tmp_path / "p.parquet")
    assert list(written.columns) == ["prediction", "proba_0", "proba_1", "proba_2"] and len(written) == 30
    pd.testing.assert_frame_equal(written, pd.read_csv(tmp_path / "p.csv"), check_exact=False, check_dtype=False)
    assert not list(tmp_path.glob(".*.tmp"))
    helped = _cloudauto("score", "--help")
    assert "probability too (proba_<class> columns beside the label)" in " ".join(helped.stdout.split())


def test_cli_score_refuses_short_rows_and_files_without_rows_and_reads_json_records(deployed, tmp_path):
    """The new user's files: a short row is named with its line (exit 5), JSON records score, no rows is no success."""
    _, endpoint, _, root = deployed
    test = pd.read_csv(root / "iris" / "test.csv").drop(columns=["target"]).head(4)
    lines = test.to_csv(index=False).splitlines()
    lines[2] = "5.1,3.5"  # row 1, line 3: two of four fields
    (tmp_path / "short2.csv").write_text("\n".join(lines) + "\n")
    out = tmp_path / "out.csv"
    short = _cloudauto("score", "iris-test", str(tmp_path / "short2.csv"), "-o", str(out))
    assert short.returncode == 5, short.stderr
    assert f"{tmp_path / 'short2.csv'}: row 1 (line 3) has 2 fields; the header has 4" in short.stderr, short.stderr
    assert "Traceback" not in short.stderr and not out.exists()

    test.to_json(tmp_path / "rows.json", orient="records")
    as_json = _cloudauto("score", "iris-test", str(tmp_path / "rows.json"), "-o", str(out))
    assert as_json.returncode == 0 and "wrote the predictions to" in as_json.stderr, as_json.stderr
    assert pd.read_csv(out)["prediction"].tolist() == endpoint.score(test)["prediction"].tolist()
    out.unlink()

    test.head(0).to_csv(tmp_path / "header.csv", index=False)
    (tmp_path / "none.json").write_text("[]")
    for name in ("header.csv", "none.json"):
        empty = _cloudauto("score", "iris-test", str(tmp_path / name), "-o", str(out))
        assert empty.returncode == 5 and f"no rows to score in {tmp_path / name}" in empty.stderr, empty.stderr
        assert not out.exists()
    (tmp_path / "rows.txt").write_text(test.to_csv(index=False))
    unknown = _cloudauto("score", "iris-test", str(tmp_path / "rows.txt"))
    assert unknown.returncode == 5 and "cannot score a .txt file" in unknown.stderr and not unknown.stdout, unknown.stderr


def test_a_row_the_endpoint_refuses_is_named_over_the_whole_file_with_its_line(deployed, tmp_path):
    """The endpoint numbers the rows of one request; the client says them over the file, with the line."""
    _, endpoint, _, root = deployed
    rows = pd.read_csv(root / "iris" / "test.csv").drop(columns=["target"]).head(20).astype(object)
    rows.iloc[13, 1] = "wide"
    rows.to_csv(tmp_path / "rows.csv", index=False)
    scorer = HTTPScorer(endpoint.url, max_rows=10)
    with pytest.raises(ScoringError) as caught:
        scorer.score(tmp_path / "rows.csv")
    assert caught.value.status == 400
    assert "takes numbers; row 13 (line 15) has 'wide'" in str(caught.value), str(caught.value)


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[-1][:1] != "Z"
    except OSError:
        return False


def test_two_deploys_of_one_name_at_once_one_serves_the_other_is_refused_and_leaves_nothing(deployed):
    """Issue 27 item 1 (a): the name is claimed atomically; the loser says who holds it (exit 5) and starts nothing."""
    import subprocess
    import sys

    from cloudauto_local.endpoint import _free_port, _ping

    job, _, _, _ = deployed
    exe = str(Path(sys.executable).with_name("cloudauto"))
    ports = [_free_port(), _free_port()]
    procs = [
        subprocess.Popen(
            [exe, "deploy", job.id, "--name", "iris-race", "--port", str(port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for port in ports
    ]
    outs = [(p.wait(timeout=120), *p.communicate()) for p in procs]
    try:
        codes = sorted(code for code, _, _ in outs)
        assert codes == [0, 5], outs
        (won, _, _), (lost_code, lost_out, lost_err) = sorted(outs, key=lambda o: o[0])
        winner = ports[[o[0] for o in outs].index(0)]
        loser = ports[[o[0] for o in outs].index(5)]
        assert not lost_out and "Traceback" not in lost_err
        assert "endpoint 'iris-race' is being deployed by pid" in lost_err or "'iris-race' already serves" in lost_err, lost_err
        time.sleep(0.5)
        assert _ping(f"http://127.0.0.1:{loser}") is None  # nothing of the loser serves
        listed = [e for e in json.loads(_cloudauto("endpoints", "--format", "json").stdout) if e["name"] == "iris-race"]
        assert [(e["status"], e["url"]) for e in listed] == [("serving", f"http://127.0.0.1:{winner}")]
    finally:
        deleted = _cloudauto("delete-endpoint", "iris-race")
    assert deleted.returncode == 0, deleted.stderr
    assert _ping(f"http://127.0.0.1:{winner}") is None and _ping(f"http://127.0.0.1:{loser}") is None


def test_a_killed_deploy_leaves_no_server_that_cloudauto_does_not_know(deployed):
    """Issue 27 item 1 (b): deploy killed -9 once its server is spawned: the unconfirmed server exits by itself,
    the claim it left is listed as failed, delete-endpoint removes it, and the name and port deploy again."""
    import signal
    import subprocess
    import sys

    from cloudauto_local.endpoint import _free_port, _ping
    from cloudauto_local.paths import endpoints_dir

    job, _, _, root = deployed
    exe = str(Path(sys.executable).with_name("cloudauto"))
    port = _free_port()
    deploy = subprocess.Popen(
        [exe, "deploy", job.id, "--name", "iris-k9", "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 60
    while not _children(deploy.pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    servers = _children(deploy.pid)
    assert servers, "deploy spawned no server"
    os.kill(deploy.pid, signal.SIGKILL)
    deploy.wait()
    deadline = time.monotonic() + 30
    while _alive(servers[0]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(servers[0]), "the server of a killed deploy goes on running"
    assert _ping(f"http://127.0.0.1:{port}") is None
    listed = {e["name"]: e["status"] for e in json.loads(_cloudauto("endpoints", "--format", "json").stdout)}
    assert listed.get("iris-k9") == "failed", listed
    deleted = _cloudauto("delete-endpoint", "iris-k9")
    assert deleted.returncode == 0 and "deleted iris-k9" in deleted.stdout, deleted.stderr
    assert [p.name for p in endpoints_dir().glob("iris-k9*")] == ["iris-k9.removed.json"]
    again = _cloudauto("deploy", job.id, "--name", "iris-k9", "--port", str(port))
    try:
        assert again.returncode == 0, again.stderr
        scored = _cloudauto("score", "iris-k9", str(root / "iris" / "test.csv"))
        assert scored.returncode == 0 and len(scored.stdout.splitlines()) == 31
    finally:
        _cloudauto("delete-endpoint", "iris-k9")


def test_a_killed_deploy_s_claim_is_taken_over_by_the_next_deploy(deployed):
    """A claim whose deploy is gone (its pid dead) does not hold the name."""
    from dataclasses import asdict, replace

    from cloudauto_local.endpoint import _write_private
    from cloudauto_local.paths import endpoints_dir

    job, endpoint, _, _ = deployed
    stale = replace(endpoint.record, name="iris-stale", pid=0, state="starting", deployer=2**22 + 7, deployer_started=1)
    _write_private(endpoints_dir() / "iris-stale.json", json.dumps(asdict(stale)))
    made = job.deploy(name="iris-stale")
    try:
        assert made.record.state == "serving" and made.url != endpoint.url and made.kind() == "tabular"
    finally:
        made.delete()


def test_delete_never_kills_a_process_that_took_the_server_s_pid(tmp_path, monkeypatch):
    """The record names its server by pid and start time: another process with that pid is left alone."""
    import subprocess

    from cloudauto_local.endpoint import EndpointRecord, LocalEndpoint

    monkeypatch.setenv("CLOUDAUTO_HOME", str(tmp_path))
    (tmp_path / "endpoints").mkdir()
    other = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        record = EndpointRecord("iris-reused", "http://127.0.0.1:9", other.pid, "m", "job", 0, pid_started=1)
        LocalEndpoint(record).delete(timeout=0.5)
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()
