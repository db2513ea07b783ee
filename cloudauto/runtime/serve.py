"""SageMaker's serving contract with nothing but the standard library: what a container runs.

`GET /ping` answers 200 once the model is loaded; `POST /invocations` takes CSV or JSON and
answers with cloudauto's inference handler, on port 8080 by default, as SageMaker's hosting
expects of a container started with `serve`. Used by the local backend's docker mode, where
the image has Python and AutoGluon but none of the local endpoint's web framework.

    python -m cloudauto.runtime.serve [--model-dir /opt/ml/model] [--port 8080] \
        [--name NAME --job JOB --trial N --instance ID]

With the identity options (deploy --mode docker passes them), /ping and every answer say which
endpoint this is, with the digest of the model loaded, in the same form as the process-mode
server (cloudauto.runtime.identity): deploy waits for exactly that, and clients check it.
A body over the limit is refused with 413 while it streams, chunked or not: never read whole.
"""

from __future__ import annotations

import argparse
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional

from ..scoring import IDENTITY_HEADER, identity_header
from .identity import add_arguments, given, served
from .inference import BadRequest, model_fn

MAX_BODY = 6 * 1024 * 1024
READ_BLOCK = 64 * 1024
DRAIN_SECONDS = 1.0  # after a 413, what the client still sends is read and dropped this long, so it gets the answer


class _TooLarge(Exception):
    pass


def make_handler(
    model: Any, identity: Optional[dict[str, Any]] = None, max_bytes: int = MAX_BODY
) -> type[BaseHTTPRequestHandler]:
    """The request handler for `model`; `identity` (cloudauto.runtime.identity.served) is said on every answer."""
    header = identity_header(identity) if identity is not None else None

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as SageMaker's front end uses
        # headers and body go out as two writes: with Nagle on, the second waits for the
        # client's delayed ACK, 40 ms per request on keep-alive connections
        disable_nagle_algorithm = True

        def _answer(self, status: int, body: bytes, kind: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            if header is not None:
                self.send_header(IDENTITY_HEADER, header)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)

        def _error(self, status: int, message: str) -> None:
            self._answer(status, json.dumps({"error": message}).encode())

        def do_GET(self) -> None:  # noqa: N802
            if self.path.split("?")[0] == "/ping":
                said = {"status": "healthy", "kind": model.kind, **({"endpoint": identity} if identity is not None else {})}
                self._answer(200, json.dumps(said).encode())
            else:
                self._error(404, f"no route {self.path}; use GET /ping or POST /invocations")

        def do_POST(self) -> None:  # noqa: N802
            # the body is read (or the connection closed) before any answer: a body left unread
            # would be taken for the start of the next request on this keep-alive connection
            try:
                body = self._body()
            except _TooLarge as exc:
                self.close_connection = True
                self._error(413, str(exc))
                self._drain()
                return
            except (ValueError, OSError) as exc:
                self.close_connection = True
                self._error(400, f"cannot read the body: {exc}")
                return
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

        def _body(self) -> bytes:
            """The request's body, chunked or with a length; past `max_bytes`, _TooLarge before reading on."""
            if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                return self._chunked()
            raw = (self.headers.get("Content-Length") or "0").strip()
            if not raw.isdigit():
                raise ValueError(f"Content-Length {raw[:40]!r} is not a number of bytes")
            if int(raw) > max_bytes:
                raise _TooLarge(f"the body is {int(raw):,} bytes; at most {max_bytes:,}")
            return self.rfile.read(int(raw))

        def _chunked(self) -> bytes:
            parts, size = [], 0
            while True:
                line = self.rfile.readline(1024)
                text = line.split(b";", 1)[0].strip()
                if not line.endswith(b"\n") or not text:
                    raise ValueError("a chunk size line is cut or empty")
                length = int(text, 16)  # ValueError: not a chunked body
                if length == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):  # trailers
                        pass
                    return b"".join(parts)
                size += length
                if size > max_bytes:  # known from the chunk's size line: its data is never read
                    raise _TooLarge(f"the body is over {max_bytes:,} bytes, the limit (chunked: stopped reading there)")
                parts.append(self.rfile.read(length))
                self.rfile.readline(1024)  # the CRLF after the chunk's data

        def _drain(self) -> None:
            """Read and drop what the client sends on after a refusal, briefly: it then reads the 413, not a reset."""
            import time

            deadline = time.monotonic() + DRAIN_SECONDS
            try:
                self.connection.settimeout(0.2)
                while time.monotonic() < deadline and self.connection.recv(READ_BLOCK):
                    pass
            except OSError:
                pass

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            sys.stderr.write(f"[cloudauto-serve] {self.address_string()} {format % args}\n")

    return Handler


def build_server(argv: Optional[list[str]] = None) -> ThreadingHTTPServer:
    """The server as `main` runs it: the model loaded, the identity deploy gave it, bound to its port."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", default="/opt/ml/model")
    parser.add_argument("--host", default="0.0.0.0")  # inside a container; the host publishes it on loopback
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--max-bytes", type=int, default=MAX_BODY)
    add_arguments(parser)
    args, _ = parser.parse_known_args(argv)  # SageMaker starts containers with the argument `serve`
    model = model_fn(args.model_dir)
    identity = served(given(args), args.model_dir)[0] if args.instance else None
    server = ThreadingHTTPServer((args.host, args.port), make_handler(model, identity, args.max_bytes))
    print(f"[cloudauto-serve] serving {args.model_dir} on {args.host}:{args.port}", file=sys.stderr, flush=True)
    return server


def main(argv: Optional[list[str]] = None) -> int:
    server = build_server(argv)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
