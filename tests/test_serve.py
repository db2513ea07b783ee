"""cloudauto.runtime.serve: SageMaker's serving contract from the standard library (docker mode's server)."""

from __future__ import annotations

import http.client
import json
import threading
from http.server import ThreadingHTTPServer

import pytest

from cloudauto.runtime.inference import BadRequest
from cloudauto.runtime.serve import MAX_BODY, make_handler


class EchoModel:
    """Stands in for a loaded predictor: the contract, not AutoGluon, is under test here."""

    kind = "tabular"

    def handle(self, body, content_type, accept, probabilities=False):
        if body == b"bad":
            raise BadRequest("missing columns: a")
        if body == b"boom":
            raise RuntimeError("the model fell over")
        rows = body.decode().strip().splitlines()[1:]
        return json.dumps([{"prediction": len(r)} for r in rows]).encode(), "application/json"


@pytest.fixture
def server():
    handler = make_handler(EchoModel())
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield handler, http.client.HTTPConnection("127.0.0.1", httpd.server_address[1], timeout=10)
    httpd.shutdown()


def _call(conn, method, path, body=None):
    conn.request(method, path, body=body, headers={"Content-Type": "text/csv"})
    response = conn.getresponse()
    return response.status, json.loads(response.read())


def test_ping_and_invocations_on_one_keep_alive_connection(server):
    handler, conn = server
    assert _call(conn, "GET", "/ping") == (200, {"status": "healthy", "kind": "tabular"})
    for _ in range(3):  # the same connection each time
        assert _call(conn, "POST", "/invocations", b"a,b\n1,2\n10,20\n") == (200, [{"prediction": 3}, {"prediction": 5}])
    # headers and body are two writes: without this each keep-alive answer waited 40 ms for a delayed ACK
    assert handler.disable_nagle_algorithm is True


def test_errors_are_json_with_the_right_status(server):
    _, conn = server
    assert _call(conn, "POST", "/invocations", b"bad") == (400, {"error": "missing columns: a"})
    status, body = _call(conn, "POST", "/invocations", b"boom")
    assert status == 500 and "RuntimeError: the model fell over" in body["error"]
    assert _call(conn, "POST", "/score", b"x")[0] == 404 and _call(conn, "GET", "/nowhere")[0] == 404
    # the 404's body was read: the next request on the connection is understood
    assert _call(conn, "POST", "/invocations", b"a\n1\n") == (200, [{"prediction": 1}])


def test_an_oversized_body_is_refused_unread_and_the_connection_closed(server):
    _, conn = server
    conn.putrequest("POST", "/invocations")
    conn.putheader("Content-Type", "text/csv")
    conn.putheader("Content-Length", str(MAX_BODY + 1))
    conn.endheaders()  # nothing sent of the 6 MB: the server answers from the headers alone
    response = conn.getresponse()
    assert response.status == 413 and response.getheader("Connection") == "close"
    assert "at most" in json.loads(response.read())["error"]


ME = {"name": "b", "job": "iris-1", "trial": 0, "instance": "abc123", "model": "0123456789abcdef"}


@pytest.fixture
def small_server():
    """The server with its identity and a 1,000-byte limit, for the chunked-body tests."""
    handler = make_handler(EchoModel(), identity=ME, max_bytes=1000)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd.server_address[1]
    httpd.shutdown()


def test_every_answer_says_which_endpoint_serves(small_server):
    """/ping and every answer name the endpoint, as the process-mode server does (one shared format)."""
    from cloudauto.scoring import IDENTITY_HEADER, identity_header

    conn = http.client.HTTPConnection("127.0.0.1", small_server, timeout=10)
    for method, path, body, status in (
        ("GET", "/ping", None, 200),
        ("POST", "/invocations", b"a\n1\n", 200),
        ("GET", "/x", None, 404),
    ):
        conn.request(method, path, body=body, headers={"Content-Type": "text/csv"})
        response = conn.getresponse()
        answer = json.loads(response.read())
        assert response.status == status and response.getheader(IDENTITY_HEADER) == identity_header(ME)
        if path == "/ping":
            assert answer["endpoint"] == ME


def _chunked(port: int, chunks: list[bytes], end: bool = True) -> tuple[int, dict]:
    """A chunked POST over a raw socket (http.client would buffer it); the answer's status and JSON."""
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nTransfer-Encoding: chunked\r\n\r\n")
        for chunk in chunks:
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        if end:
            sock.sendall(b"0\r\n\r\n")
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, json.loads(response.read())


def test_a_chunked_body_is_read_and_one_over_the_limit_is_refused_while_it_streams(small_server):
    # under the limit: decoded and answered, as a body with a length is
    assert _chunked(small_server, [b"a,b\n1,2\n", b"10,20\n"]) == (200, [{"prediction": 3}, {"prediction": 5}])
    # over it: 413 once the total passes the limit, the rest never sent (nor waited for)
    status, answer = _chunked(small_server, [b"x" * 600, b"y" * 600], end=False)
    assert status == 413 and "1,000" in answer["error"]


def test_the_container_server_says_the_identity_its_endpoint_record_expects(tmp_path, monkeypatch):
    """serve.py started as deploy --mode docker starts it: /ping's identity is the record's, model digest included."""
    import urllib.request

    from cloudauto_local.endpoint import EndpointRecord, model_digest

    from cloudauto.runtime import serve

    model_dir = tmp_path / "model"
    (model_dir / "models").mkdir(parents=True)
    (model_dir / "models" / "m.pkl").write_bytes(b"weights")
    monkeypatch.setattr(serve, "model_fn", lambda folder: EchoModel())
    argv = ["--model-dir", str(model_dir), "--host", "127.0.0.1", "--port", "0"]
    argv += ["--name", "b", "--job", "iris-1", "--trial", "2", "--instance", "abc123", "serve"]
    httpd = serve.build_server(argv)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        record = EndpointRecord("b", "", 0, str(model_dir), "iris-1", 2, instance="abc123", model=model_digest(model_dir))
        with urllib.request.urlopen(f"http://127.0.0.1:{httpd.server_address[1]}/ping", timeout=10) as response:
            assert json.loads(response.read())["endpoint"] == record.identity()
    finally:
        httpd.shutdown()
