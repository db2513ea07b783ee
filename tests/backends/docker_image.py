"""The image the docker-mode tests run: backends/local/Dockerfile on a Debian rootfs made here.

No registry is reachable from the build machines, so the Dockerfile's usual base
(python:3.11-slim) cannot be pulled: a bookworm rootfs is made with debootstrap and imported
as the base, then the Dockerfile installs the pinned AutoGluon from PyPI on top.

    python tests/backends/docker_image.py     # make test runs this: builds the image, or says why not

`status()` tells the tests whether the image is there, and if not, why.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parents[2]
IMAGE = os.environ.get("CLOUDAUTO_TEST_IMAGE", "cloudauto-local:test")
BASE = "cloudauto-test-base:bookworm"
PACKAGES = "python3,python3-venv,ca-certificates,libgomp1"


def _client():
    try:
        import docker
    except ImportError:
        return None, "the docker SDK is not installed"
    try:
        client = docker.from_env()
        client.ping()
    except Exception as exc:  # any failure to reach the engine is a reason to skip
        return None, f"no Docker engine reachable ({str(exc).splitlines()[0][:160]})"
    return client, ""


def recipe() -> str:
    """What the image is made from: an image built from other files is stale and is built again."""
    import hashlib

    digest = hashlib.sha256()
    for name in ("backends/local/Dockerfile", "constraints.txt"):
        digest.update((ROOT / name).read_bytes())
    return digest.hexdigest()[:16]


def _current(client) -> bool:
    try:
        return client.images.get(IMAGE).labels.get("cloudauto.recipe") == recipe()
    except Exception:
        return False


def status() -> tuple[bool, str]:
    """(is the test image there and current, why not)."""
    client, why = _client()
    if client is None:
        return False, why
    if not _current(client):
        return (
            False,
            f"the test image {IMAGE} is not built from the current Dockerfile (python tests/backends/docker_image.py builds it)",
        )
    return True, ""


def build() -> Optional[str]:
    """Build the test image if it is missing; None when it is there, else why it cannot be."""
    client, why = _client()
    if client is None:
        return why
    import docker

    if _current(client):
        return None
    started = time.monotonic()
    try:
        client.images.get(BASE)
    except docker.errors.ImageNotFound:
        if shutil.which("debootstrap") is None or os.geteuid() != 0:
            return "no base image, and debootstrap (as root) is needed to make one"
        with tempfile.TemporaryDirectory(prefix="cloudauto-rootfs-") as rootfs:
            subprocess.run(
                ["debootstrap", "--variant=minbase", f"--include={PACKAGES}", "bookworm", rootfs],
                check=True,
                stdout=subprocess.DEVNULL,
            )
            tar = subprocess.Popen(["tar", "-C", rootfs, "-c", "."], stdout=subprocess.PIPE)
            subprocess.run(["docker", "import", "-", BASE], stdin=tar.stdout, check=True, stdout=subprocess.DEVNULL)
            tar.wait()
    ca = Path(os.environ.get("PIP_CERT") or "/etc/ssl/certs/ca-certificates.crt")
    (ROOT / ".docker").mkdir(exist_ok=True)
    if ca.is_file():  # pip inside the build trusts what pip here trusts (a re-signing proxy)
        shutil.copyfile(ca, ROOT / ".docker" / "ca-bundle.pem")
    subprocess.run(
        ["docker", "build", "-q", "-f", "backends/local/Dockerfile", "--build-arg", f"BASE={BASE}"]
        + ["--label", f"cloudauto.recipe={recipe()}", "-t", IMAGE, "."],
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    print(f"built {IMAGE} in {time.monotonic() - started:.0f} s", file=sys.stderr)
    return None


if __name__ == "__main__":
    reason = build()
    print(f"docker-mode tests: {'image ' + IMAGE + ' ready' if reason is None else 'will be skipped: ' + reason}")
