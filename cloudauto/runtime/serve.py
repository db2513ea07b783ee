"""SageMaker's serving contract with nothing but the standard library: what a container runs.

`GET /ping` answers 200 once the model is loaded; `POST /invocations` takes CSV or JSON and
answers with cloudauto's inference handler, on port 8080 by default, as SageMaker's hosting
expects of a container started with `serve`. Used by the local backend's docker mode, where
the image has Python and AutoGluon but none of the local endpoint's web framework.

    python -m cloudauto.runtime.serve [--model-dir /opt/ml/model] [--port 8080]
"""

from __future__ import annotations

import argparse
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional

from .inference import BadRequest, model_fn

MAX_BODY = 6 * 1024 * 1024


def make_handler(model: Any) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as SageMaker's front end uses
        # headers and body go out as two writes: with Nagle on, the second waits for the
        # client's delayed ACK, 40 ms per request on keep-alive connections
        disable_nagle_algorithm = True

        def _answer(self, status: int, body: bytes, kind: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)

        def _error(self, status: int, message: str) -> None:
            self._answer(status, json.dumps({"error": message}).encode())

        def do_GET(self) -> None:  # noqa: N802
            if self.path.split("?")[0] == "/ping":
                self._answer(200, json.dumps({"status": "healthy", "kind": model.kind}).encode())
            else:
                self._error(404, f"no route {self.path}; use GET /ping or POST /invocations")

        def do_POST(self) -> None:  # noqa: N802
            # the body is read (or the connection closed) before any answer: a body left unread
            # would be taken for the start of the next request on this keep-alive connection
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self.close_connection = True
                self._error(413, f"the body is {length:,} bytes; at most {MAX_BODY:,}")
                return
            body = self.rfile.read(length)
            if self.path.split("?")[0] != "/invocations":
                self._error(404, f"no route {self.path}; use POST /invocations")
                return
            try:
                probabilities = "probabilities=true" in self.path
                data, kind = model.handle(body, self.headers.get("Content-Type"), self.headers.get("Accept"), probabilities)
            except BadRequest as exc:
                self._error(exc.status, str(exc))
                return
            except Exception as exc:  # a real fault: 500 with what happened
                self._error(500, f"{type(exc).__name__}: {exc}")
                return
            self._answer(200, data, kind)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            sys.stderr.write(f"[cloudauto-serve] {self.address_string()} {format % args}\n")

    return Handler


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", default="/opt/ml/model")
    parser.add_argument("--host", default="0.0.0.0")  # inside a container; the host publishes it on loopback
    parser.add_argument("--port", type=int, default=8080)
    args, _ = parser.parse_known_args(argv)  # SageMaker starts containers with the argument `serve`
    model = model_fn(args.model_dir)
    server = ThreadingHTTPServer((args.host, args.port), make_handler(model))
    print(f"[cloudauto-serve] serving {args.model_dir} on {args.host}:{args.port}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
