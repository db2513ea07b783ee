"""Peak memory of a local endpoint server under one oversized chunked POST (loopback only).

The server must refuse a body over its limit while the body streams (413), not read it whole
first: this sends `--mb` megabytes of chunks with the right key and reads the server's peak
resident memory (VmHWM) before and after, with how much it took in before answering.

    python bench/endpoint_chunked_body.py --model RUNS/JOB/trials/0/model [--mb 1024] [--json out.json]

`--model` is a trial's model folder (a finished local job's `trials/N/model`).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

PIECE = 1 << 20  # one chunk


def _peak_mb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM"):
            return int(line.split()[1]) // 1024
    raise RuntimeError("no VmHWM in /proc (Linux only)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def measure(model: Path, megabytes: int) -> dict[str, object]:
    port = _free_port()
    env = {**os.environ, "CLOUDAUTO_ENDPOINT_KEY": "bench-key"}
    server = subprocess.Popen(
        [sys.executable, "-m", "cloudauto_local.endpoint", "--model", str(model), "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        before = _peak_mb(server.pid)
        sock = socket.create_connection(("127.0.0.1", port), timeout=120)
        sock.sendall(
            b"POST /invocations HTTP/1.1\r\nHost: bench\r\nContent-Type: text/csv\r\n"
            b"Authorization: Bearer bench-key\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        answer = bytearray()

        def read() -> None:
            while b"\r\n" not in answer:
                got = sock.recv(65536)
                if not got:
                    return
                answer.extend(got)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        block = b"%x\r\n" % PIECE + b"1" * PIECE + b"\r\n"
        sent, started = 0, time.monotonic()
        try:
            while sent < megabytes * PIECE and reader.is_alive():
                sock.sendall(block)
                sent += PIECE
            sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the server answered and closed: what the limit is for
        reader.join(120)
        seconds = time.monotonic() - started
        after = _peak_mb(server.pid)
        sock.close()
    finally:
        server.terminate()
        server.wait()
    return {
        "sent_mb": sent // PIECE,
        "of_mb": megabytes,
        "seconds": round(seconds, 2),
        "answer": bytes(answer).split(b"\r\n")[0].decode(errors="replace"),
        "peak_rss_mb_before": before,
        "peak_rss_mb_after": after,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="a trial's model folder")
    parser.add_argument("--mb", type=int, default=1024, help="megabytes of chunks to send at most")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    figures = measure(args.model, args.mb)
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
