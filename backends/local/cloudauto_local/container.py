"""Docker mode: each trial in a container with SageMaker's training layout, through the docker SDK.

The trial's container sees what a SageMaker training job sees — `/opt/ml/code` (cloudauto's
bundle, the same files the SageMaker backend uploads), `/opt/ml/input/config/` with
`hyperparameters.json` (every value a string, static values JSON as the SageMaker SDK writes
them, with `sagemaker_program` and the `cloudauto_space` table), `inputdataconfig.json` and
`resourceconfig.json`, one folder per channel under `/opt/ml/input/data`, `/opt/ml/model`,
`/opt/ml/output`, the host name `algo-1` — and its command is `train`: SageMaker's training
toolkit (in the image, as in the AWS DLCs) reads that tree, sets the `SM_*` variables and runs
the very entry script SageMaker runs. The worker follows the container's log, reads the
`[cloudauto-metric]` lines as SageMaker's metric definition would, hands each objective
report to the orchestrator's policy, and stops the container when the policy ends the trial.
Everything lands in the same run store as process mode.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any, Optional

from cloudauto.checkpoints import SAGEMAKER_CHECKPOINTS
from cloudauto.reporting import POSITIVE_CLASS, metric_regex, positive_class_in
from cloudauto.runtime.bundle import ENTRY, bundle_files, write_folder
from cloudauto.runtime.data import resolve
from cloudauto.runtime.sagemaker_entry import as_json, encode
from cloudauto.runtime.trial_inputs import checkpoints_file, image_table_folder, local_checkpoints
from cloudauto.spec import JobSpec
from cloudauto.spec.errors import CloudautoError
from cloudauto.spec.types import scheme_of

LABEL_JOB, LABEL_TRIAL, LABEL_ENDPOINT = "cloudauto.job", "cloudauto.trial", "cloudauto.endpoint"
STOP_GRACE_S = 5
SERVING_PORT = 8080
HOST = "algo-1"  # SageMaker's name for the first instance; the toolkit resolves it before it starts
POSITIVE_LINE_START = f"[cloudauto] {POSITIVE_CLASS}: "
KILLED_EXIT = 137  # 128 + SIGKILL: the container's init was killed (`docker kill`, the engine's out-of-memory kill)
# the failure file when the script inside was SIGKILLed: the entry's (engine: command) or the training toolkit's
_SCRIPT_KILLED = re.compile(r"exited with status -9\b|killed by SIGKILL|ExitCode (?:-9|137)\b")
_SCORE_LINE = re.compile(r"^\[cloudauto\] (\w+): (-?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|nan|inf))\s*$")


class DockerModeError(CloudautoError):
    exit_code = 2


def docker_client() -> Any:
    """A client for a running engine, or an error that says how to get one."""
    try:
        import docker
    except ImportError:
        raise DockerModeError("docker mode needs the docker SDK: pip install 'cloudauto-local[docker]'") from None
    try:
        client = docker.from_env()
        client.ping()
    except docker.errors.DockerException as exc:
        raise DockerModeError(
            f"no Docker engine is reachable ({str(exc).splitlines()[0][:200]}): start one "
            "(`sudo systemctl start docker`, or `sudo dockerd &`), point DOCKER_HOST at one, "
            "or use backends.local.mode: process"
        ) from None
    return client


def image_for(spec: JobSpec) -> tuple[str, str]:
    """(image, why): `backends.local.image`, else the AWS AutoGluon training DLC (CPU) that SageMaker would run."""
    if spec.backends.local.image:
        return spec.backends.local.image, "backends.local.image"
    try:
        from cloudauto_sagemaker.compile import image_uri, region_of
    except ImportError:
        raise DockerModeError(
            "backends.local.image: no image named, and cloudauto-sagemaker (which knows the AWS AutoGluon images) "
            "is not installed; name an image with Python and AutoGluon (`make image` builds one)"
        ) from None
    uri, how = image_uri(spec, region_of(spec), "ml.m5.xlarge", scope="training")
    return uri, how + ", CPU"


def preflight(client: Any, spec: JobSpec, image: str, why: str = "backends.local.image") -> None:
    """Refuse before anything runs: the image must be here (or pullable), GPUs need the NVIDIA runtime,
    image and text trials an image that holds autogluon.multimodal (label cloudauto.multimodal), and trials that fit
    a foundation model one that holds them (label cloudauto.foundation)."""
    ensure_image(client, image, why)
    from cloudauto.runtime.autogluon_params import MULTIMODAL_TASKS
    from cloudauto.runtime.foundation import uses_foundation

    trains = spec.engine.value != "command"
    needs = [
        *(
            [("cloudauto.multimodal", f"task {spec.task.value}", "autogluon.multimodal", "an image with the multimodal extra")]
            if trains and spec.task in MULTIMODAL_TASKS
            else []
        ),
        *(
            [
                (
                    "cloudauto.foundation",
                    "foundation models",
                    "foundation models",  # any trial's models: each runs in this image
                    "an image built with them (`make image-foundation`: the Dockerfile with --build-arg FOUNDATION=true)",
                )
            ]
            if trains and uses_foundation(spec)
            else []
        ),
    ]
    labels = (client.images.get(image).labels or {}) if needs else {}
    for label, what, lacks, instead in needs:
        if labels.get(label) != "true":
            raise DockerModeError(
                f"{what}: image {image} ({why}) has no {lacks} (its label {label} is not true; backends/local/Dockerfile "
                "builds a tabular image, to keep it small): run these trials in process mode (backends.local.mode: "
                f"process), or name {instead}"
            )
    if spec.compute.gpus:
        runtimes = client.info().get("Runtimes") or {}
        if "nvidia" not in runtimes:
            raise DockerModeError(
                f"compute.gpus: {spec.compute.gpus} GPU(s) asked for, but this Docker engine has no NVIDIA runtime "
                f"(it has: {', '.join(sorted(runtimes)) or 'none'}); install the NVIDIA Container Toolkit or set compute.gpus: 0"
            )


def ensure_image(client: Any, image: str, why: str = "backends.local.image") -> None:
    import docker

    try:
        client.images.get(image)
    except docker.errors.ImageNotFound:
        try:
            client.images.pull(image)
        except docker.errors.DockerException as exc:
            reason = str(exc).splitlines()[0][:300]
            raise DockerModeError(
                f"image {image} ({why}) is not on this machine and cannot be pulled ({reason}); "
                "build one with `make image` and name it in backends.local.image"
            ) from None


def write_code(run_dir: Path, spec: JobSpec, base_dir: Optional[str] = None) -> Path:
    """The job's /opt/ml/code, written once per job (atomically: a half-written bundle never runs).

    Its spec.json keeps `${NAME}` references, as the run store does: each trial's container
    gets the values in its environment (trial_config) and the entry reads them from there.
    """
    target = run_dir / "code"
    if not target.exists():
        tmp = run_dir / f".code-{os.getpid()}"
        extra = checkpoints_file(local_checkpoints(spec, base_dir=base_dir)[0])
        write_folder(bundle_files(spec, extra=extra, references=True), tmp)
        try:
            tmp.rename(target)
        except OSError:  # another worker was first
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def _link_tree(source: Path, folder: Path) -> None:
    """A folder's files under `folder`, hard-linked where the file system allows (images, checkpoints: no copies)."""

    def link(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    shutil.copytree(source, folder, dirs_exist_ok=True, copy_function=link)


def stage_channels(spec: JobSpec, base_dir: Optional[str], data_dir: Path) -> list[str]:
    """One folder per channel, as SageMaker downloads them: the data roles (an image table with its folder,
    as the SageMaker backend uploads it), then each local checkpoint folder; remote data is fetched here."""
    from cloudauto.runtime.data import _read_bytes

    roles = []
    for role, uri in spec.data.uris().items():
        folder = data_dir / role
        folder.mkdir(parents=True, exist_ok=True)
        table_folder, _ = image_table_folder(spec, role, uri, base_dir=base_dir)
        uri = resolve(uri, base_dir)
        scheme = scheme_of(uri)
        source = Path(uri.removeprefix("file://")) if scheme in (None, "file") else None
        if table_folder is not None:
            _link_tree(table_folder, folder)
        elif source is not None and source.is_dir():
            _link_tree(source, folder)
        elif source is not None:
            target = folder / source.name
            if not target.exists():
                try:
                    os.link(source, target)
                except OSError:
                    shutil.copyfile(source, target)
        else:
            body, name = _read_bytes(uri)
            (folder / (Path(name).name or role)).write_bytes(body)
        roles.append(role)
    for checkpoint in local_checkpoints(spec, base_dir=base_dir)[0]:
        _link_tree(Path(checkpoint.source), data_dir / checkpoint.input)
        roles.append(checkpoint.input)
    return roles


def trial_config(
    spec: JobSpec,
    *,
    image: str,
    job_id: str,
    number: int,
    params: dict[str, Any],
    trial_dir: Path,
    code_dir: Path,
    variables: Optional[dict[str, str]] = None,
) -> dict[str, Any]:
    """Keyword arguments for `client.containers.create`: SageMaker's training-container contract.

    `variables`: the `${NAME}` values the spec read (the code bundle keeps the references):
    in the container's environment, where the entry resolves them, never in a file.
    """
    import docker

    trial_dir, code_dir = trial_dir.resolve(), code_dir.resolve()  # the engine takes a relative path for a volume name
    ml = trial_dir / "opt_ml"
    env = {  # what the service sets; the toolkit derives the SM_* variables from the config files
        "TRAINING_JOB_NAME": f"cloudauto-{job_id}-{number}",
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "HOME": "/tmp",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        **(variables or {}),
        **(spec.command.env if spec.command else {}),
    }
    config: dict[str, Any] = {
        "image": image,
        "command": ["train"],  # the DLCs' command: sagemaker-training's trainer
        "working_dir": "/opt/ml/code",
        "hostname": HOST,
        "environment": env,
        "volumes": {
            str(code_dir): {"bind": "/opt/ml/code", "mode": "ro"},
            str(ml / "input"): {"bind": "/opt/ml/input", "mode": "ro"},
            str(ml / "output"): {"bind": "/opt/ml/output", "mode": "rw"},
            str(trial_dir / "sm_model"): {"bind": "/opt/ml/model", "mode": "rw"},
            # cloudauto.checkpoint_dir(), in the trial folder: `resume` runs an interrupted trial with it again
            str(trial_dir / "checkpoints"): {"bind": SAGEMAKER_CHECKPOINTS, "mode": "rw"},
        },
        "labels": {LABEL_JOB: job_id, LABEL_TRIAL: str(number)},
        "name": f"cloudauto-{job_id}-{number}",
        "user": f"{os.getuid()}:{os.getgid()}",  # what the trial writes stays the user's
        "init": True,  # an init as PID 1 passes SIGTERM on: python as PID 1 would ignore the stop
        "detach": True,
    }
    if spec.compute.gpus:
        config["device_requests"] = [docker.types.DeviceRequest(count=spec.compute.gpus, capabilities=[["gpu"]])]
    return config


def prepare_trial(spec: JobSpec, message: dict[str, Any]) -> tuple[Path, list[str]]:
    """The /opt/ml tree of one trial, on the host, inside its trial folder."""
    trial_dir = Path(message["out_dir"])
    ml = trial_dir / "opt_ml"
    for sub in ("input/config", "input/data", "output/data"):
        (ml / sub).mkdir(parents=True, exist_ok=True)
    (trial_dir / "sm_model").mkdir(parents=True, exist_ok=True)
    (trial_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
    hyperparameters = {
        **encode(message["params"]),
        "sagemaker_program": as_json(ENTRY),
        "sagemaker_submit_directory": as_json("/opt/ml/code"),  # already there: the toolkit leaves it as is
        "sagemaker_container_log_level": as_json(20),
    }
    (ml / "input/config/hyperparameters.json").write_text(json.dumps(hyperparameters))
    channels = stage_channels(spec, message.get("base_dir"), ml / "input/data")
    (ml / "input/config/inputdataconfig.json").write_text(
        json.dumps({role: {"TrainingInputMode": "File", "S3DistributionType": "FullyReplicated"} for role in channels})
    )
    (ml / "input/config/resourceconfig.json").write_text(
        json.dumps({"current_host": HOST, "hosts": [HOST], "network_interface_name": "eth0"})
    )
    return trial_dir, channels


def kill_container(container_id: str) -> None:
    """Best effort, for the orchestrator's timeouts and cancels: the container must not outlive its trial."""
    try:
        import docker

        docker.from_env().containers.get(container_id).remove(force=True)
    except Exception:  # already gone, or no engine any more: nothing left to stop
        pass


def remove_job_containers(job_id: str) -> int:
    """Containers a killed orchestrator left running (resume calls this first)."""
    try:
        import docker

        client = docker.from_env()
        found = client.containers.list(all=True, filters={"label": f"{LABEL_JOB}={job_id}"})
    except Exception:
        return 0
    for container in found:
        try:
            container.remove(force=True)
        except Exception:
            pass
    return len(found)


def run_container_trial(channel: Any, message: dict[str, Any]) -> None:
    """The worker's side of a docker-mode trial (it sends the same messages as a process trial)."""
    import docker

    spec = JobSpec.from_dict(message["spec"])
    number = message["number"]
    log_path = Path(message["log"])
    objective = spec.objective
    reported = spec.metric.name if spec.command is not None else objective.name
    pattern = re.compile(metric_regex(reported))
    started = time.perf_counter()
    try:
        client = docker_client()
        trial_dir, _ = prepare_trial(spec, message)
        config = trial_config(
            spec,
            image=message["image"],
            job_id=message["job_id"],
            number=number,
            params=message["params"],
            trial_dir=trial_dir,
            code_dir=Path(message["code_dir"]),
            variables=message.get("interpolated"),
        )
        config.pop("detach")
        container = client.containers.create(**config)
    except Exception as exc:  # data that cannot be staged, an engine that refuses: the trial fails, the worker lives
        channel.send(type="failed", number=number, error=f"cannot create the trial's container: {type(exc).__name__}: {exc}")
        return
    channel.send(type="container", number=number, id=container.id)
    values: list[float] = []
    scores: dict[str, float] = {}
    stop: Optional[str] = None
    try:
        from cloudauto.secrets import Redactor

        # the log keeps no key of the trial's environment, and no value the spec took from ${NAME}, in every run
        hide = Redactor({**os.environ, **config.get("environment", {})}, extra=message.get("interpolated", {}).items())
        container.start()
        with open(log_path, "ab") as log:
            pending = b""
            for chunk in container.logs(stream=True, follow=True):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for raw in lines:
                    line = raw.decode(errors="replace")
                    log.write((hide(line) + "\n").encode())
                    log.flush()
                    found = pattern.search(line)
                    score = _SCORE_LINE.match(line)
                    if score:
                        scores[score.group(1)] = float(score.group(2))
                    elif line.startswith(POSITIVE_LINE_START):  # text, not a figure: the class the trial scored
                        scores[POSITIVE_CLASS] = positive_class_in([line])
                    if not found:
                        continue
                    values.append(float(found.group(1)))
                    channel.send(type="report", number=number, step=len(values), value=values[-1])
                    answer = channel.receive()
                    if answer.get("stop") and stop is None:
                        stop = answer.get("reason") or "stopped by the early-termination policy"
                        container.stop(timeout=STOP_GRACE_S)  # SIGTERM, then SIGKILL: as SageMaker stops a job
            if pending:
                log.write(hide(pending.decode(errors="replace")).encode())
        code = int(container.wait().get("StatusCode", -1))
    except docker.errors.DockerException as exc:
        # the container was lost (removed, the daemon gone): not the script's doing, so limits.trial_retries applies
        channel.send(type="failed", number=number, error=f"the trial's container was lost: {exc}", fault="infrastructure")
        kill_container(container.id)
        return
    failure = trial_dir / "opt_ml" / "output" / "failure"
    reason = hide(failure.read_text(errors="replace").strip()) if failure.is_file() else ""
    oom = code != 0 and not stop and _oom_killed(container)
    kill_container(container.id)
    _adopt_model(trial_dir)
    seconds = time.perf_counter() - started
    with open(log_path, "a") as log:
        log.write(f"[cloudauto] trial {number}: container exit code {code}, {len(values)} reports of {reported}\n")
    finite = [v for v in values if v == v and abs(v) != float("inf")]
    if spec.command is None and finite and not stop:
        best: Optional[float] = finite[-1]  # the entry's last line is the trial's objective, as SageMaker reads it
    else:
        best = (max(finite) if objective.goal.value == "maximize" else min(finite)) if finite else None
    metrics = {**scores, "fit_seconds": seconds, "exit_code": code}
    if stop:
        channel.send(type="done", number=number, objective=best, metrics=metrics, stopped=True)
    elif code != 0:
        tail = " | ".join(log_path.read_text(errors="replace").strip().splitlines()[-6:])
        # cloudauto stops a container only by a verdict (`stop`, above) or by killing this worker with it (nothing sent)
        if killed_from_outside(code, reason, oom):
            channel.send(
                type="failed",
                number=number,
                error=f"the trial was killed (SIGKILL) by something other than cloudauto (the out-of-memory killer?): "
                f"container exit code {code}{', out of memory' if oom else ''}: {reason or tail}",
                fault="infrastructure",  # endings.INFRASTRUCTURE: limits.trial_retries applies
            )
            return
        channel.send(type="failed", number=number, error=f"the container exited with code {code}: {reason or tail}")
    elif best is None:
        channel.send(type="failed", number=number, error=f"the trial never reported {reported}")
    else:
        channel.send(type="done", number=number, objective=best, metrics=metrics, stopped=False)


def killed_from_outside(code: int, reason: str, oom_killed: bool = False) -> bool:
    """Whether a container cloudauto did not stop ended by a SIGKILL from outside: exit 137, the engine's OOM flag, or
    its script SIGKILLed inside it (the out-of-memory killer picks the biggest process, the script). An infrastructure
    fault, retried under limits.trial_retries as a process-mode script killed so is; any other failure is the trial's."""
    if code == 0:
        return False
    return code == KILLED_EXIT or oom_killed or bool(_SCRIPT_KILLED.search(reason))


def _oom_killed(container: Any) -> bool:
    try:
        container.reload()
        return bool(container.attrs.get("State", {}).get("OOMKilled"))
    except Exception:  # gone meanwhile: the exit code says enough
        return False


def _adopt_model(trial_dir: Path) -> None:
    """The entry saved the predictor in /opt/ml/model/model: put it where process mode keeps it."""
    saved = trial_dir / "sm_model" / "model"
    if saved.is_dir() and not (trial_dir / "model").exists():
        saved.rename(trial_dir / "model")


def serving_config(
    *, image: str, model_dir: Path, code_dir: Path, name: str, port: int, identity: Optional[dict[str, Any]] = None
) -> dict[str, Any]:
    """Keyword arguments for `client.containers.run`: SageMaker's serving contract on port 8080.

    `identity` (the endpoint record's) is what the server says on /ping and every answer.
    """
    from cloudauto.runtime.identity import arguments

    model_dir, code_dir = Path(model_dir).resolve(), Path(code_dir).resolve()
    return {
        "image": image,
        "command": [
            "python3",
            "-m",
            "cloudauto.runtime.serve",
            "--model-dir",
            "/opt/ml/model",
            "--port",
            str(SERVING_PORT),
            *(arguments(identity) if identity else []),
            "serve",
        ],
        "working_dir": "/opt/ml/code",
        "environment": {"PYTHONPATH": "/opt/ml/code", "PYTHONUNBUFFERED": "1", "HOME": "/tmp"},
        "volumes": {
            str(model_dir): {"bind": "/opt/ml/model", "mode": "ro"},
            str(code_dir): {"bind": "/opt/ml/code", "mode": "ro"},
        },
        "ports": {f"{SERVING_PORT}/tcp": ("127.0.0.1", port)},
        "labels": {LABEL_ENDPOINT: name},
        "name": f"cloudauto-endpoint-{name}",
        "user": f"{os.getuid()}:{os.getgid()}",
        "init": True,
        "detach": True,
    }


__all__ = [
    "DockerModeError",
    "docker_client",
    "ensure_image",
    "image_for",
    "kill_container",
    "preflight",
    "remove_job_containers",
    "run_container_trial",
    "serving_config",
    "trial_config",
    "write_code",
]
