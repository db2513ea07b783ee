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
