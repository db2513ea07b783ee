"""The local endpoint: the shared inference handler behind a real ASGI server.

It speaks SageMaker's container contract (`GET /ping`, `POST /invocations`) and Azure
ML's (`POST /score`), on 127.0.0.1 by default, with an optional bearer key and a request
size limit. Bad payloads get a 4xx JSON error naming the problem; 5xx is kept for real
faults. With `workers` > 1 the model is loaded in that many worker processes, each with an
equal share of the cores, as SageMaker's model servers run a worker per vCPU (model_pool.py).
Run as `python -m cloudauto_local.endpoint --model DIR --port N [--workers W]`.
"""

from __future__ import annotations

import argparse
import contextlib
import hmac
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional

from cloudauto.backend import Endpoint, EndpointGone
from cloudauto.runtime.identity import add_arguments, given, model_digest, served
from cloudauto.runtime.identity import arguments as identity_arguments
from cloudauto.scoring import IDENTITY_HEADER, MAX_PAYLOAD, HTTPScorer, identity_header
from cloudauto.spec.errors import CloudautoError

from .paths import PRIVATE_UMASK, endpoints_dir, private

# one worker: a body up to INLINE_BYTES is predicted on the event loop while such bodies take
# under INLINE_SECONDS (1,000 numeric rows are some 16-32 kB)
INLINE_BYTES, INLINE_SECONDS = 64 * 1024, 0.05


def create_app(
    model_dir: str,
    *,
    key: Optional[str] = None,
    max_bytes: int = MAX_PAYLOAD,
    workers: int = 1,
    identity: Optional[dict[str, Any]] = None,
):
    """One worker: the model in this process. More: copies in a ModelPool, each request to a free one.

    `identity` (endpoint name, job, trial, instance) is what /ping and the X-Cloudauto-Endpoint
    header of every answer say, with the digest of the model folder as loaded: a client (and
    `deploy`, waiting) knows it reached this server and not another one on the port.
    """
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    from cloudauto.runtime.inference import JSON, BadRequest, Model

    if workers == 1:
        import asyncio
        from concurrent.futures import ThreadPoolExecutor

        model = Model(model_dir)  # once per server process
        kind, features = model.kind, model.features
        # Large bodies go to a thread of their own, so the event loop stays free to answer
        # /ping and refusals while the model works; small ones are answered on the loop (a
        # hand-off to a thread would cost them more than they take), as long as the model
        # answers a small body quickly: a slow model gets the thread for every body. A small
        # body may be predicted meanwhile beside a large one, as in docker mode's threaded server.
        runner = ThreadPoolExecutor(1, thread_name_prefix="cloudauto-model")
        quick = [True]  # the last small body took under INLINE_SECONDS

        async def handle(body: bytes, content_type: Optional[str], accept: Optional[str], proba: bool) -> tuple[bytes, str]:
            small, started = len(body) <= INLINE_BYTES, time.perf_counter()
            if small and quick[0]:
                answer = model.handle(body, content_type, accept, proba)
            else:
                loop = asyncio.get_running_loop()
                answer = await loop.run_in_executor(runner, model.handle, body, content_type, accept, proba)
            if small:
                quick[0] = time.perf_counter() - started < INLINE_SECONDS
            return answer

        stop: Optional[Any] = runner.shutdown
    else:
        from .model_pool import ModelPool

        pool = ModelPool(model_dir, workers)
        kind, features, handle, stop = pool.kind, pool.features, pool.handle, pool.shutdown

    me, header = served(identity, model_dir)  # one format with docker mode's server (cloudauto.runtime.serve)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        if stop is not None:
            stop()

    def error(status: int, message: str) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status)

    async def body_of(request: Request) -> bytes:
        if key is not None:
            given = request.headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {key}".encode()):
                raise BadRequest("missing or wrong bearer key", status=401)
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > max_bytes:
            raise BadRequest(f"the body is {int(length):,} bytes; the limit is {max_bytes:,}", status=413)
        # read as it streams (a chunked body has no length): past the limit, stop reading and refuse
        parts, size = [], 0
        async for part in request.stream():
            size += len(part)
            if size > max_bytes:
                raise BadRequest(f"the body is over {max_bytes:,} bytes, the limit", status=413)
            parts.append(part)
        return b"".join(parts)

    async def answer(request: Request, content_type: Optional[str], accept: Optional[str]) -> Response:
        try:
            body = await body_of(request)
            started = time.perf_counter()
            # class probabilities on request (?probabilities=true): predictions alone are cheaper
            proba = request.query_params.get("probabilities", "").lower() in ("1", "true", "yes")
            data, media_type = await handle(body, content_type, accept, proba)
        except BadRequest as exc:
            return error(exc.status, str(exc))
        except Exception as exc:  # a real fault of ours or the model's
            return error(500, f"internal error: {type(exc).__name__}: {exc}")
        # Server-Timing: how much of a request was the model's (parse, predict, render)
        timing = f"handler;dur={(time.perf_counter() - started) * 1000:.3f}"
        return Response(data, media_type=media_type, headers={"Server-Timing": timing})

    async def ping(request: Request) -> Response:
        return JSONResponse({"status": "healthy", "kind": kind, "features": features, "workers": workers, "endpoint": me})

    async def invocations(request: Request) -> Response:
        return await answer(request, request.headers.get("content-type"), request.headers.get("accept"))

    async def score(request: Request) -> Response:  # Azure ML's contract: JSON in, JSON out
        return await answer(request, JSON, JSON)

    app = Starlette(
        routes=[
            Route("/ping", ping, methods=["GET"]),
            Route("/invocations", invocations, methods=["POST"]),
            Route("/score", score, methods=["POST"]),
        ],
        lifespan=lifespan,
    )
    return _with_header(app, IDENTITY_HEADER.lower().encode(), header.encode())


def _with_header(app: Any, name: bytes, value: bytes) -> Any:
    """The ASGI app with one more header on every answer (refusals and 404s too)."""

    async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await app(scope, receive, send)

        async def send_with(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (name, value)]}
            await send(message)

        return await app(scope, receive, send_with)

    return wrapped


# ---- lifecycle: a detached server per endpoint, recorded on disk ---------------------------


# a name is a file name under the endpoints folder and a cloud resource name: letters, digits and hyphens
NAME_PATTERN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")


def check_name(name: str) -> str:
    if not NAME_PATTERN.match(name or ""):
        raise EndpointError(
            f"endpoint name {name!r}: 1 to 63 letters, digits and hyphens, starting and ending with a letter or digit"
        )
    return name


@dataclass
class EndpointRecord:
    name: str
    url: str
    pid: int
    model_dir: str
    job_id: str
    trial: int
    key_hash: Optional[str] = None  # deploy --key: a salted scrypt hash, never the key (key_hash())
    container: Optional[str] = None  # docker mode: the serving container
    workers: int = 1
    created: float = 0.0
    expires: Optional[float] = None  # deploy --ttl: the watcher stops the server then
    spec: Optional[str] = None
    instance: Optional[str] = None  # this deployment's id, which its server says on /ping and every answer
    model: Optional[str] = None  # the digest of the model folder it serves (model_digest)
    # "starting": the name is claimed by a deploy (pid `deployer`) whose server has not answered yet;
    # "serving": the deploy saw its own server answer. Processes are named by pid and start time
    # (_started), so a pid the system gave to another process since is never taken for them.
    state: str = "serving"
    deployer: Optional[int] = None
    deployer_started: Optional[int] = None
    pid_started: Optional[int] = None

    def identity(self) -> dict[str, Any]:
        """What this endpoint's server says it is (/ping's `endpoint`, the X-Cloudauto-Endpoint header)."""
        return {"name": self.name, "job": self.job_id, "trial": self.trial, "instance": self.instance, "model": self.model}

    @classmethod
    def load(cls, path: Path) -> EndpointRecord:
        """A record as written; one written before keys were hashed has its key hashed on read (and rewritten)."""
        data = json.loads(path.read_text())
        known = {f for f in cls.__dataclass_fields__}
        plain = data.pop("key", None)
        record = cls(**{k: v for k, v in data.items() if k in known})
        if plain:
            record.key_hash = key_hash(plain)
            _write_private(path, json.dumps(asdict(record), indent=2))
        return record


def key_hash(key: str, salt: Optional[bytes] = None) -> str:
    """A salted scrypt hash of an endpoint key, as the record keeps it: `scrypt$n$r$p$salt$hash` (hex)."""
    import hashlib

    salt = os.urandom(16) if salt is None else salt
    n, r, p = 2**14, 8, 1
    hashed = hashlib.scrypt(key.encode(), salt=salt, n=n, r=r, p=p, dklen=32)
    return f"scrypt${n}${r}${p}${salt.hex()}${hashed.hex()}"


def key_matches(key: str, stored: str) -> bool:
    """Whether `key` is the one `stored` (key_hash) was made from; compared in constant time."""
    import hashlib

    try:
        _, n, r, p, salt, hashed = stored.split("$")
        given = hashlib.scrypt(key.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=32)
    except ValueError:
        return False
    return hmac.compare_digest(given.hex(), hashed)


def _write_private(path: Path, text: str) -> None:
    """Written whole (a temporary file renamed into place), readable by its owner only."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


def _removed_path(name: str) -> Path:
    return endpoints_dir() / f"{name}.removed.json"


def _removed_error(name: str, removed: dict[str, Any]) -> EndpointError:
    from cloudauto.endpoints import iso

    when = f"at {iso(removed['at'])} ({removed['why']})"
    return _Removed(f"endpoint '{name}' was removed {when}; deploy the job again to serve it", when)


class LocalEndpoint(Endpoint):
    backend = "local"

    def __init__(self, record: EndpointRecord, key: Optional[str] = None):
        """`key`: the bearer key (deploy hands over the one it was given; otherwise CLOUDAUTO_ENDPOINT_KEY)."""
        self.record = record
        self.name, self.url = record.name, record.url
        self._key = key if key is not None else os.environ.get(KEY_ENV) or None
        expected = identity_header(record.identity()) if record.instance else None
        # our handler takes npy; every answer must come from this deployment's server
        self._scorer = HTTPScorer(record.url, key=self._key, binary=True, identity=expected, who=f"endpoint '{record.name}'")
        self._kind: Optional[str] = None

    def score(
        self, data: Any, *, probabilities: bool = False, concurrency: Optional[int] = None, keep_columns: Optional[list[str]] = None
    ):
        """Predictions for tabular rows; for a forecaster, the forecast of every series whose history is sent.
        `keep_columns` (an ID, say) are copied from the input in front of the predictions.

        `concurrency` (batches in flight) defaults to two per worker: a worker's next batch
        is already read while it predicts, so no copy of the model waits on the transport.
        """
        from cloudauto.scoring import ScoringError, image_paths

        self._check_serving()
        self._check_key()
        kind = self.kind()
        images = image_paths(data) if kind == "multimodal" else None
        if images is not None:  # one or many image files, or a folder of them: the class and each probability per image
            if keep_columns:
                raise ScoringError("keep_columns: an image endpoint answers per image, with its path")
            return self._scorer.score_images(images)
        concurrency = 2 * self.record.workers if concurrency is None else concurrency
        return self._scorer.score(
            data, probabilities=probabilities, whole=kind == "timeseries", concurrency=concurrency, keep_columns=keep_columns
        )

    def kind(self) -> str:
        """What the served model is (from /ping, asked once, where the server also says it is this endpoint)."""
        if self._kind is None:
            ping = _ping(self.url)
            if ping is None:
                raise EndpointError(
                    f"endpoint '{self.name}' does not answer at {self.url} (its server stopped); "
                    f"deploy job {self.record.job_id} again to serve it"
                )
            self._check_identity(ping.get("endpoint"))
            self._kind = ping.get("kind", "tabular")
        return self._kind

    def _check_identity(self, said: Optional[dict[str, Any]]) -> None:
        """The server on this endpoint's port is this deployment's, not another endpoint's or another program."""
        if not self.record.instance or said == self.record.identity():
            return
        other = (
            f"endpoint '{said.get('name')}' (job {said.get('job')}, trial {said.get('trial')}, model {said.get('model')})"
            if isinstance(said, dict) and said.get("name")
            else "a server that does not say it is a cloudauto endpoint"
        )
        raise EndpointError(
            f"{self.url} is served by {other}, not by endpoint '{self.name}' (job {self.record.job_id}, "
            f"trial {self.record.trial}, model {self.record.model}): its server stopped and another took the port; "
            f"deploy job {self.record.job_id} again"
        )

    def _check_key(self) -> None:
        if self.record.key_hash is None:
            return
        if self._key is None:
            raise EndpointError(
                f"endpoint '{self.name}' takes a bearer key: set {KEY_ENV} to the key it was deployed with (deploy --key)"
            )
        if not key_matches(self._key, self.record.key_hash):
            raise EndpointError(f"{KEY_ENV} is not the key endpoint '{self.name}' was deployed with")

    def _check_serving(self) -> None:
        """A removed, expired or never started endpoint says so, instead of a connection error."""
        removed = _removed_path(self.name)
        if removed.is_file() and not (endpoints_dir() / f"{self.name}.json").is_file():
            raise _removed_error(self.name, json.loads(removed.read_text()))
        if self.record.state == "starting":
            raise _starting_error(self.record, "it does not serve yet")
        if self.record.expires is not None and self.record.expires <= time.time():
            from cloudauto.endpoints import iso

            raise EndpointError(
                f"endpoint '{self.name}' expired at {iso(self.record.expires)} (deploy --ttl) and stopped serving; "
                "cloudauto endpoints --expired --delete removes it"
            )

    def delete(self, timeout: float = 10.0, *, why: str = "deleted") -> None:
        """Stop the server, wait until it no longer answers, and remove its files; a later lookup says it was removed.

        An endpoint a live deploy is still starting is refused: that deploy owns it until it ends.
        """
        if self.record.state == "starting" and _deploying(self.record):
            raise _starting_error(self.record, "wait for that deploy to end (or stop it), then delete the endpoint")
        self.stop(timeout)
        self._forget()
        with private():
            _removed_path(self.name).write_text(json.dumps({"at": time.time(), "why": why}))

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server (TERM, then KILL) or the container; the record stays."""
        if self.record.container:
            from .container import kill_container

            kill_container(self.record.container)
            return
        if not _same_process(self.record.pid, self.record.pid_started):  # gone, or its pid is another process's now
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.record.pid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and _running(self.record.pid):
                time.sleep(0.05)
            if not _running(self.record.pid):
                break

    def _forget(self) -> None:
        """The record, the server's log and a container's code folder: nothing of the endpoint is left."""
        import shutil

        folder = endpoints_dir()
        shutil.rmtree(folder / f"{self.name}.code", ignore_errors=True)
        (folder / f"{self.name}.log").unlink(missing_ok=True)
        (folder / f"{self.name}.json").unlink(missing_ok=True)


class EndpointError(CloudautoError):
    exit_code = 5


class _Removed(EndpointError, EndpointGone):
    """A removed endpoint: delete-endpoint says it is deleted already, anything else that it was removed."""


KEY_ENV = "CLOUDAUTO_ENDPOINT_KEY"


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (our own child, not yet reaped) no longer serves
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[-1][:1] != "Z"
    except OSError:
        return True


def _started(pid: int) -> Optional[int]:
    """When process `pid` started (clock ticks after boot, /proc/PID/stat), or None: no such process, or a zombie."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[-1].split()
    except OSError:
        return None
    return None if fields[0] == "Z" else int(fields[19])  # field 22 of the line; fields[0] is field 3


def _same_process(pid: Optional[int], started: Optional[int]) -> bool:
    """Whether `pid` still runs and is the process a record named (its start time, when the record has one)."""
    if not pid or pid <= 0:
        return False
    now = _started(pid)
    if now is None:
        return False
    return started is None or now == started


def _deploying(record: EndpointRecord) -> bool:
    """Whether the deploy that claimed this record still runs."""
    return _same_process(record.deployer, record.deployer_started)


def _starting_error(record: EndpointRecord, what: str) -> EndpointError:
    if _deploying(record):
        return EndpointError(
            f"endpoint '{record.name}' is being deployed by pid {record.deployer} (job {record.job_id}, {record.url}); {what}"
        )
    return EndpointError(
        f"endpoint '{record.name}': its deploy (pid {record.deployer}) ended before its server answered, so it does not "
        f"serve; cloudauto delete-endpoint {record.name} removes it, or deploy job {record.job_id} again"
    )


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """The endpoints folder locked (flock) while a deploy claims a name: one claim at a time on this machine."""
    import fcntl

    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _claim(record: EndpointRecord) -> None:
    """Claim `record.name` for this deploy: its record written in state `starting` with this process's pid, before
    any server starts, so two deploys of one name never both serve and a deploy that dies leaves a record.

    Refused while another live deploy holds the name or its server serves. A claim whose deploy died is taken
    over: the server it started (if it still runs: pid and start time) is stopped first.
    """
    folder = endpoints_dir()
    path = folder / f"{record.name}.json"
    with _locked(folder):
        if path.exists():
            existing = EndpointRecord.load(path)
            if existing.state == "starting" and _deploying(existing):
                raise _starting_error(existing, "wait for it, or pick another name")
            if existing.state == "starting":  # its deploy died before its server answered
                LocalEndpoint(existing).stop(timeout=5)
            elif _serves(existing):
                raise EndpointError(
                    f"endpoint '{record.name}' already serves at {existing.url}; delete it first or pick another name"
                )
        record.state, record.deployer, record.deployer_started = "starting", os.getpid(), _started(os.getpid())
        _write_private(path, json.dumps(asdict(record), indent=2))


def _release(record: EndpointRecord) -> None:
    """A deploy that failed gives its name back: its claim is removed (not a later deploy's record)."""
    path = endpoints_dir() / f"{record.name}.json"
    with _locked(path.parent):
        try:
            ours = EndpointRecord.load(path).instance == record.instance
        except (OSError, ValueError):
            return
        if ours:
            path.unlink(missing_ok=True)


def _exit_unless_confirmed(record_path: Path, instance: str, deployer: int) -> None:
    """The server stops (with its model workers) when its deploy ends before recording it as serving:
    a server never outlives its deploy unrecorded (a deploy killed -9 half-way leaves no orphan)."""
    import threading

    def confirmed() -> bool:
        try:
            data = json.loads(record_path.read_text())
        except (OSError, ValueError):
            return False
        return data.get("instance") == instance and data.get("state") == "serving"

    def watch() -> None:
        while not confirmed():
            if os.getppid() != deployer and not confirmed():  # the deploy is gone (we were handed to init)
                print(
                    f"[cloudauto] the deploy that started this server (pid {deployer}) ended before it served: stopping",
                    file=sys.stderr,
                    flush=True,
                )
                os.killpg(os.getpgrp(), signal.SIGKILL)
            time.sleep(0.1)

    threading.Thread(target=watch, name="cloudauto-confirm", daemon=True).start()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _ping(url: str) -> Optional[dict[str, Any]]:
    """/ping's answer, or None when nothing healthy answers."""
    import urllib.request

    try:
        with urllib.request.urlopen(url + "/ping", timeout=2) as response:
            answer = json.loads(response.read()) if response.status == 200 else None
    except (OSError, ValueError):
        return None
    return answer if isinstance(answer, dict) else {}


def _healthy(url: str) -> bool:
    """Whether any healthy server answers /ping at `url` (_serves says whether it is the endpoint's own)."""
    return _ping(url) is not None


def _serves(record: EndpointRecord) -> bool:
    """Whether this deployment's own server answers at its URL (not whatever took its port since)."""
    ping = _ping(record.url)
    if ping is None:
        return False
    return not record.instance or ping.get("endpoint") == record.identity()


def _refuse_taken(host: str, port: int, url: str) -> None:
    """An asked-for port something else holds is an error naming it, before any server or container starts."""
    taken = _port_taken(host, port)
    if taken:
        raise EndpointError(
            f"port {port} on {host} is taken{_holder(url)} ({taken}); pick another --port, or leave --port out for a free one"
        )


def _port_taken(host: str, port: int) -> Optional[str]:
    """Why `port` cannot be served on (in use, not allowed), or None when it is free now."""
    with socket.socket() as sock:
        # as the server binds: connections of a stopped server waiting out TIME_WAIT do not hold the port
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            return exc.strerror or str(exc)
    return None


def _holder(url: str) -> str:
    """Who serves at `url`: a cloudauto endpoint by its name, or another program."""
    said = (_ping(url) or {}).get("endpoint")
    if isinstance(said, dict) and said.get("name"):
        return f" by endpoint '{said['name']}' of job {said.get('job')}"
    return ""


def start(
    name: str,
    model_dir: str,
    *,
    job_id: str,
    trial: int,
    host: str = "127.0.0.1",
    port: Optional[int] = None,
    key: Optional[str] = None,
    workers: int = 1,
    timeout: float = 120.0,
    ttl: Optional[float] = None,
    spec: Optional[str] = None,
) -> LocalEndpoint:
    check_name(name)
    if workers < 1:
        raise EndpointError(f"workers must be at least 1, not {workers}")
    folder = endpoints_dir()
    folder.mkdir(parents=True, exist_ok=True)
    record_path = folder / f"{name}.json"
    asked = port
    port = port or _free_port()
    url = f"http://{host}:{port}"
    record = EndpointRecord(
        name,
        url,
        0,
        model_dir,
        job_id,
        trial,
        key_hash(key) if key else None,
        workers=workers,
        spec=spec,
        instance=uuid.uuid4().hex[:12],
        model=model_digest(model_dir),
    )
    _claim(record)  # the name is this deploy's from here: a failure below gives it back (_release)
    log_path = folder / f"{name}.log"
    had_log = log_path.exists()
    proc: Optional[subprocess.Popen] = None

    def failed(message: str) -> EndpointError:
        if not had_log:  # nothing of a deployment that never served is left
            log_path.unlink(missing_ok=True)
        return EndpointError(message)

    try:
        if asked is not None:
            _refuse_taken(host, port, url)
        log = open(log_path, "ab")  # noqa: SIM115 - handed to the server process
        env = {**os.environ, KEY_ENV: key or ""}
        proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "cloudauto_local.endpoint", "--model", model_dir),
                *("--host", host, "--port", str(port), "--workers", str(workers)),
                *identity_arguments(record.identity()),
                *("--confirm", str(record_path), "--deployer", str(os.getpid())),
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            env=env,
            start_new_session=True,
        )
        log.close()
        record.pid, record.pid_started = proc.pid, _started(proc.pid)
        _write_private(record_path, json.dumps(asdict(record), indent=2))  # still starting: now naming its server

        deadline = time.monotonic() + timeout
        while not _serves(record):  # this deployment's own server: not whatever else answers on the port
            if proc.poll() is not None:
                lines = log_path.read_text(errors="replace").strip().splitlines()
                if any("address already in use" in line.lower() for line in lines[-20:]):
                    raise failed(
                        f"port {port} on {host} is taken{_holder(url)} (address already in use): the endpoint server "
                        "could not start; pick another --port, or leave --port out for a free one"
                    )
                raise failed(f"the endpoint server exited with code {proc.returncode}: {' | '.join(lines[-5:])}")
            if time.monotonic() > deadline:
                raise failed(f"endpoint '{name}' did not answer /ping at {url} within {timeout:g}s; its server was stopped")
            time.sleep(0.2)
        return _record(record, ttl, key)
    except BaseException:  # a refusal, a failure, Ctrl-C: no server and no claim of this deploy is left
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        _release(record)
        raise


def start_container(
    name: str,
    model_dir: str,
    *,
    job_id: str,
    trial: int,
    image: str,
    port: Optional[int] = None,
    timeout: float = 300.0,
    ttl: Optional[float] = None,
    spec: Optional[str] = None,
) -> LocalEndpoint:
    """The model served by a container that speaks SageMaker's serving contract (/ping, /invocations on 8080).

    As in process mode, the server says who it is (cloudauto.runtime.identity) and deploy waits
    for exactly that: whatever else answers on the port is not taken for this endpoint.
    """
    import shutil

    from cloudauto.runtime.bundle import serving_files, write_folder

    from .container import docker_client, ensure_image, kill_container, serving_config

    check_name(name)
    folder = endpoints_dir()
    folder.mkdir(parents=True, exist_ok=True)
    host, asked = "127.0.0.1", port
    port = port or _free_port()
    url = f"http://{host}:{port}"
    record = EndpointRecord(
        name,
        url,
        0,
        model_dir,
        job_id,
        trial,
        None,
        spec=spec,
        instance=uuid.uuid4().hex[:12],
        model=model_digest(model_dir),
        container=f"cloudauto-endpoint-{name}",  # serving_config's name for it
    )
    _claim(record)  # as in process mode: a deploy killed half-way leaves a record naming its container
    code_dir = folder / f"{name}.code"
    had_code = code_dir.exists()
    try:
        if asked is not None:
            _refuse_taken(host, port, url)
        client = docker_client()
        ensure_image(client, image)
        write_folder(serving_files(), code_dir)
        import docker

        config = serving_config(
            image=image, model_dir=Path(model_dir), code_dir=code_dir, name=name, port=port, identity=record.identity()
        )
        kill_container(config["name"])  # a stopped earlier deployment's container would hold the name (none serves: claimed)
        try:
            container = client.containers.run(**config)
        except docker.errors.DockerException as exc:
            reason = str(exc)
            if "port is already allocated" in reason or "address already in use" in reason:
                raise EndpointError(
                    f"port {port} on {host} is taken{_holder(url)} (address already in use): the serving container "
                    "could not start; pick another --port, or leave --port out for a free one"
                ) from None
            raise EndpointError(f"the Docker engine would not start the serving container: {reason}") from None
        deadline = time.monotonic() + timeout
        while not _serves(record):  # this deployment's own server: not whatever else answers on the port
            container.reload()
            if container.status in ("exited", "dead"):
                tail = container.logs(tail=8).decode(errors="replace").strip().replace("\n", " | ")
                raise EndpointError(f"the serving container exited: {tail}")
            if time.monotonic() > deadline:
                other = _holder(url)
                raise EndpointError(
                    f"the serving container did not answer as endpoint '{name}' at {url} within {timeout:g}s"
                    + (f"; the port is answered{other} instead" if other else "")
                    + "; it was stopped"
                )
            time.sleep(0.3)
        record.container = container.id
        return _record(record, ttl)
    except BaseException:  # nothing of a deployment that never served is left: its container, code folder, claim
        kill_container(record.container or f"cloudauto-endpoint-{name}")
        if not had_code:
            shutil.rmtree(code_dir, ignore_errors=True)
        _release(record)
        raise


def _records() -> list[EndpointRecord]:
    folder = endpoints_dir()
    if not folder.is_dir():
        return []
    return [EndpointRecord.load(p) for p in sorted(folder.glob("*.json")) if not p.name.endswith(".removed.json")]


def attach(name: str) -> LocalEndpoint:
    path = endpoints_dir() / f"{check_name(name)}.json"
    if not path.is_file():
        if _removed_path(name).is_file():
            raise _removed_error(name, json.loads(_removed_path(name).read_text()))
        known = [r.name for r in _records()]
        raise EndpointError(f"no local endpoint '{name}'" + (f"; there are: {', '.join(known)}" if known else ""))
    return LocalEndpoint(EndpointRecord.load(path))


def list_endpoints() -> list[Any]:
    """Every endpoint recorded here: serving, stopped, expired (stopped by its ttl), starting (a deploy under way)
    or failed (its deploy ended before its server answered: delete-endpoint removes it)."""
    from cloudauto.endpoints import EndpointInfo

    found = []
    for record in _records():
        if record.state == "starting":  # a deploy under way, or one that ended before its server answered
            status = "starting" if _deploying(record) else "failed"
        else:
            expired = record.expires is not None and record.expires <= time.time()
            status = "serving" if _serves(record) else "expired" if expired else "stopped"
        found.append(
            EndpointInfo(
                name=record.name,
                backend="local",
                status=status,
                job=record.job_id,
                spec=record.spec,
                created=record.created or None,
                expires=record.expires,
                usd_per_hour=0.0,
                price_source="this machine",
                url=record.url,
            )
        )
    return found


def _record(record: EndpointRecord, ttl: Optional[float], key: Optional[str] = None) -> LocalEndpoint:
    """Write the record as serving (its server, waiting for that, is confirmed); with a ttl, a detached watcher
    stops the endpoint when it expires."""
    if ttl is not None and ttl <= 0:
        LocalEndpoint(record).stop()
        raise EndpointError(f"ttl must be positive, not {ttl:g} s")
    record.created = time.time()
    record.expires = None if ttl is None else record.created + ttl
    record.state = "serving"
    folder = endpoints_dir()
    _write_private(folder / f"{record.name}.json", json.dumps(asdict(record), indent=2))
    _removed_path(record.name).unlink(missing_ok=True)
    if ttl is not None:
        subprocess.Popen(
            [sys.executable, "-m", "cloudauto_local.endpoint", "--expire", record.name, "--created", repr(record.created)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    return LocalEndpoint(record, key)


def _watch(name: str, created: float) -> None:
    """The ttl's watcher: at the expiry, stop this deployment of `name` (not a later one under the same name)."""
    path = endpoints_dir() / f"{name}.json"
    while True:
        if not path.is_file():
            return
        record = EndpointRecord.load(path)
        if record.created != created or record.expires is None:
            return
        left = record.expires - time.time()
        if left <= 0:
            LocalEndpoint(record).stop()
            with open(endpoints_dir() / f"{name}.log", "a") as log:
                log.write(f"[cloudauto] endpoint {name} expired (deploy --ttl): stopped\n")
            return
        time.sleep(min(left, 30.0))


def main() -> None:
    os.umask(PRIVATE_UMASK)  # the server's and the watcher's files in the home are the user's alone
    if sys.argv[1:2] == ["--expire"]:  # the ttl's watcher, started by _record
        _watch(sys.argv[2], float(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description="Serve a cloudauto model over HTTP.")
    parser.add_argument("--model", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--max-bytes", type=int, default=MAX_PAYLOAD)
    parser.add_argument("--workers", type=int, default=1)
    add_arguments(parser)
    parser.add_argument("--confirm", help=argparse.SUPPRESS)  # the record in which deploy confirms this server
    parser.add_argument("--deployer", type=int, help=argparse.SUPPRESS)  # that deploy's pid: gone unconfirmed, stop
    args = parser.parse_args()
    if args.workers < 1:
        parser.error(f"--workers must be at least 1, not {args.workers}")
    if args.confirm and args.deployer:  # before the model loads: a deploy killed meanwhile leaves no server
        _exit_unless_confirmed(Path(args.confirm), args.instance, args.deployer)
    import uvicorn

    key = os.environ.pop(KEY_ENV, None) or None  # not on the command line, where ps shows it
    app = create_app(args.model, key=key, max_bytes=args.max_bytes, workers=args.workers, identity=given(args))
    # keep-alive well past the client's idle gaps (SageMaker asks containers for over 60 s)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False, timeout_keep_alive=75)


if __name__ == "__main__":
    main()
