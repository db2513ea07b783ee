"""What docker mode asks the Docker engine for, read off the engine API itself.

A stand-in engine on loopback answers the docker SDK (`DOCKER_HOST=tcp://127.0.0.1:PORT`)
and records each request, so these tests see the JSON the SDK sends to
`POST /containers/create` — image, command, mounts, environment, device requests — and the
errors docker mode gives when the engine lacks an image or a GPU runtime. They need no
engine and run everywhere; test_local_docker.py runs the same configuration on a real one.
"""

from __future__ import annotations

import json
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pytest

import cloudauto

from ..conftest import ROOT

docker = pytest.importorskip("docker")


class FakeEngine:
    def __init__(self, *, images: set[str], runtimes: dict | None = None):
        self.images, self.runtimes = images, runtimes or {"runc": {"path": "runc"}}
        self.labels: dict[str, str] = {}
        self.requests: list[tuple[str, str, dict | None]] = []
        engine = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _send(self, status: int, body: object = None) -> None:
                data = json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                path = self.path.split("?")[0]
                path = path.split("/", 2)[2] if path.startswith("/v1.") else path.lstrip("/")
                engine.requests.append((method, path, json.loads(raw) if raw else None))
                if path == "_ping":
                    self._send(200, "OK")
                elif path == "version":
                    self._send(200, {"ApiVersion": "1.41", "Version": "20.10.24", "MinAPIVersion": "1.12"})
                elif path == "info":
                    self._send(200, {"Runtimes": engine.runtimes})
                elif path.startswith("images/") and path.endswith("/json"):
                    name = path[len("images/") : -len("/json")]
                    if name in engine.images:
                        self._send(200, {"Id": "sha256:" + "0" * 64, "RepoTags": [name], "Config": {"Labels": engine.labels}})
                    else:
                        self._send(404, {"message": f"No such image: {name}"})
                elif path == "images/create":
                    self._send(404, {"message": "pull access denied: repository does not exist or may require 'docker login'"})
                elif path == "containers/create":
                    self._send(201, {"Id": "c0ffee" * 10 + "abcd", "Warnings": []})
                elif path.startswith("containers/") and path.endswith("/start"):
                    self._send(204)
                elif path.startswith("containers/") and path.endswith("/json"):
                    self._send(200, {"Id": "c0ffee" * 10 + "abcd", "State": {"Status": "running"}, "Name": "/x"})
                else:
                    self._send(404, {"message": f"not in this stand-in: {path}"})

            def do_GET(self) -> None:  # noqa: N802
                self._handle("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._handle("POST")

            def do_DELETE(self) -> None:  # noqa: N802
                self._handle("DELETE")

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"tcp://127.0.0.1:{self.server.server_address[1]}"

    def created(self) -> list[dict]:
        return [body for method, path, body in self.requests if path == "containers/create"]


@pytest.fixture
def engine(monkeypatch):
    fake = FakeEngine(images={"cloudauto-local:latest"})
    monkeypatch.setenv("DOCKER_HOST", fake.url)
    yield fake
    fake.server.shutdown()


def _spec(tmp_path: Path, gpus: int = 0) -> cloudauto.JobSpec:
    from job_specs import make_data

    make_data.iris(tmp_path / "data")
    (tmp_path / "iris.yaml").write_text((ROOT / "job_specs" / "iris.yaml").read_text())
    return cloudauto.JobSpec.from_file(
        tmp_path / "iris.yaml",
        overrides=["backends.local.mode=docker", "backends.local.image=cloudauto-local:latest", f"compute.gpus={gpus}"],
    )


def test_a_trial_container_has_sagemakers_training_layout(engine, tmp_path):
    from cloudauto_local.container import docker_client, prepare_trial, trial_config, write_code

    spec = _spec(tmp_path, gpus=1)
    trial_dir = tmp_path / "run" / "trials" / "3"
    params = {"models": "GBM", "time_limit": 20}
    message = {"out_dir": str(trial_dir), "params": params, "base_dir": str(tmp_path)}
    _, channels = prepare_trial(spec, message)
    code = write_code(tmp_path / "run", spec)
    config = trial_config(
        spec,
        image="cloudauto-local:latest",
        job_id="iris-1",
        number=3,
        params=params,
        trial_dir=trial_dir,
        code_dir=code,
    )
    config.pop("detach")
    docker_client().containers.create(**config)
    (sent,) = engine.created()
    assert sent["Image"] == "cloudauto-local:latest"
    assert sent["Cmd"] == ["train"] and sent["WorkingDir"] == "/opt/ml/code"  # the toolkit starts the trial, as in the DLCs
    assert sent["Hostname"] == "algo-1"
    binds = sorted(sent["HostConfig"]["Binds"])
    assert f"{code}:/opt/ml/code:ro" in binds and f"{trial_dir / 'opt_ml' / 'input'}:/opt/ml/input:ro" in binds
    assert (
        f"{trial_dir / 'sm_model'}:/opt/ml/model:rw" in binds and f"{trial_dir / 'opt_ml' / 'output'}:/opt/ml/output:rw" in binds
    )
    env = dict(item.split("=", 1) for item in sent["Env"])
    assert not [k for k in env if k.startswith("SM_")]  # the toolkit sets those from the config files, as on SageMaker
    assert sent["HostConfig"]["DeviceRequests"] == [
        {"Driver": "", "Count": 1, "DeviceIDs": [], "Capabilities": [["gpu"]], "Options": {}}
    ]
    assert sent["Labels"] == {"cloudauto.job": "iris-1", "cloudauto.trial": "3"}
    assert sent["HostConfig"]["Init"] is True  # SIGTERM reaches the trial: python as PID 1 would ignore it
    # what the container will read: the hyperparameters as SageMaker strings, the channels, the entry
    from cloudauto.runtime.sagemaker_entry import decode

    from .sagemaker_service import decoded_by_the_toolkit

    config = trial_dir / "opt_ml/input/config"
    hps = json.loads((config / "hyperparameters.json").read_text())
    assert all(isinstance(v, str) for v in hps.values())
    toolkit_tree = tmp_path / "toolkit"  # the same config files, read by sagemaker-training's own Environment
    shutil.copytree(trial_dir / "opt_ml" / "input", toolkit_tree / "input")
    assert decode(decoded_by_the_toolkit(toolkit_tree)) == params
    assert json.loads(hps["sagemaker_program"]) == "cloudauto_entry.py"
    assert json.loads((config / "resourceconfig.json").read_text())["current_host"] == "algo-1"
    assert (trial_dir / "opt_ml/input/data/train/train.csv").read_bytes() == (tmp_path / "data/iris/train.csv").read_bytes()
    assert (code / "cloudauto_entry.py").is_file() and json.loads((code / "spec.json").read_text())["name"] == spec.name


def test_no_gpu_request_without_gpus_and_the_serving_contract_port(engine, tmp_path, monkeypatch):
    from cloudauto_local.container import docker_client, serving_config

    client = docker_client()
    monkeypatch.chdir(tmp_path)  # relative folders (the default .cloudauto/...) must reach the engine as absolute paths
    client.containers.run(
        **serving_config(image="cloudauto-local:latest", model_dir=Path("m"), code_dir=Path("c"), name="iris", port=18080)
    )
    (sent,) = engine.created()
    assert sent["HostConfig"]["PortBindings"] == {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": "18080"}]}
    assert "DeviceRequests" not in sent["HostConfig"] or not sent["HostConfig"]["DeviceRequests"]
    assert (
        sent["Cmd"][:3] == ["python3", "-m", "cloudauto.runtime.serve"]
        and f"{tmp_path / 'm'}:/opt/ml/model:ro" in sent["HostConfig"]["Binds"]
    )


def test_clear_errors_for_a_missing_image_a_missing_gpu_runtime_and_no_engine(engine, tmp_path, monkeypatch):
    from cloudauto_local.container import DockerModeError, docker_client, preflight

    client = docker_client()
    spec = _spec(tmp_path)
    with pytest.raises(DockerModeError, match=r"image nowhere:1 .* cannot be pulled .*pull access denied.*make image"):
        preflight(client, spec, "nowhere:1")
    with pytest.raises(DockerModeError, match=r"compute.gpus: 2 GPU\(s\) .* no NVIDIA runtime \(it has: runc\)"):
        preflight(client, _spec(tmp_path, gpus=2), "cloudauto-local:latest")
    preflight(client, spec, "cloudauto-local:latest")  # present, no GPUs: fine
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:9")  # nothing listens there
    with pytest.raises(DockerModeError, match=r"no Docker engine is reachable") as info:
        docker_client()
    assert "use backends.local.mode: process" in str(info.value) and "sudo dockerd" in str(info.value)


def test_submit_in_docker_mode_refuses_before_creating_a_run(engine, tmp_path, monkeypatch):
    monkeypatch.setenv("CLOUDAUTO_HOME", str(tmp_path / "home"))
    _spec(tmp_path)  # writes the data and the spec file
    spec = cloudauto.JobSpec.from_file(
        tmp_path / "iris.yaml", overrides=["backends.local.mode=docker", "backends.local.image=nowhere:1"]
    )
    with pytest.raises(cloudauto.CloudautoError, match="nowhere:1"):
        cloudauto.submit(spec, backend="local")
    assert not (tmp_path / "home" / "runs").exists()  # nothing half-made


def test_image_trials_in_docker_mode_need_an_image_with_automm(engine, tmp_path):
    from cloudauto_local.container import DockerModeError, docker_client, preflight

    spec = cloudauto.JobSpec.from_dict(
        {
            "name": "img",
            "task": "image_classification",
            "data": {"train": "train.csv", "label": "label"},
            "metric": "accuracy",
            "backends": {"local": {"mode": "docker", "image": "cloudauto-local:latest"}},
        }
    )
    with pytest.raises(DockerModeError, match="has no autogluon.multimodal .* run these trials in process mode"):
        preflight(docker_client(), spec, "cloudauto-local:latest")
    engine.labels = {"cloudauto.multimodal": "true"}
    preflight(docker_client(), spec, "cloudauto-local:latest")  # an image that says it has it: fine


def test_an_image_trial_container_gets_the_tables_folder_and_each_checkpoint_as_a_channel(tmp_path):
    """The SageMaker backend's contract: the entry finds the table by name in its channel, and each checkpoint
    value's folder in the channel checkpoints.json names."""
    from cloudauto_local.container import prepare_trial, write_code

    from cloudauto.runtime.sagemaker_entry import _channel, channel_folder
    from cloudauto.runtime.trial_inputs import with_checkpoints

    from .multimodal_specs import image_spec

    spec = image_spec(tmp_path, "backends.local.mode=docker", "backends.local.image=cloudauto-local:multimodal")
    trial_dir = tmp_path / "run" / "trials" / "0"
    params = {"model.timm_image.checkpoint_name": "./data/checkpoints/resnet14t", "optim.lr": 0.003}
    _, channels = prepare_trial(spec, {"out_dir": str(trial_dir), "params": params, "base_dir": str(tmp_path)})
    assert channels == ["train", "test", "checkpoint_0", "checkpoint_1"]
    data = trial_dir / "opt_ml" / "input" / "data"
    config = json.loads((trial_dir / "opt_ml/input/config/inputdataconfig.json").read_text())
    assert set(config) == set(channels)
    named = pd.read_csv(tmp_path / "data/digits/small_train.csv")["image"]
    assert all((data / "train" / p).is_file() for p in named)  # the images beside the table, at their paths
    env = {"SM_INPUT_DIR": str(trial_dir / "opt_ml" / "input")}
    assert _channel("train", env, "./data/digits/small_train.csv") == data / "train" / "small_train.csv"
    code = write_code(tmp_path / "run", spec)
    resolved = with_checkpoints(params, lambda name: channel_folder(name, env), code)
    assert resolved["model.timm_image.checkpoint_name"] == str(data / "checkpoint_1")
    assert sorted(p.name for p in (data / "checkpoint_1").iterdir()) == ["config.json", "pytorch_model.bin"]
    assert resolved["optim.lr"] == 0.003


class _Impostor(BaseHTTPRequestHandler):
    """Another endpoint's server on the port: healthy, but not the one being deployed."""

    def do_GET(self) -> None:  # noqa: N802
        body = json.dumps({"status": "healthy", "endpoint": {"name": "a", "job": "other-1", "trial": 0}}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def test_a_docker_deploy_succeeds_only_when_its_own_server_answers(engine, tmp_path, monkeypatch):
    """Endpoint a serves on the port: deploying b there refuses, naming a; and where the port was taken after
    the check, b is not taken for serving because something answers /ping: nothing of b is left."""
    from cloudauto_local import endpoint
    from cloudauto_local.paths import endpoints_dir

    monkeypatch.setenv("CLOUDAUTO_HOME", str(tmp_path / "home"))
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "cloudauto_model.json").write_text("{}")
    impostor = ThreadingHTTPServer(("127.0.0.1", 0), _Impostor)
    threading.Thread(target=impostor.serve_forever, daemon=True).start()
    port = impostor.server_address[1]
    try:
        deploy = dict(job_id="iris-1", trial=0, image="cloudauto-local:latest", port=port, timeout=2)
        with pytest.raises(endpoint.EndpointError, match=f"port {port} on 127.0.0.1 is taken by endpoint 'a' of job other-1"):
            endpoint.start_container("b", str(model_dir), **deploy)
        assert not engine.created() and list(endpoints_dir().glob("b*")) == []
        monkeypatch.setattr(endpoint, "_port_taken", lambda host, port: None)  # taken between the check and the start
        with pytest.raises(endpoint.EndpointError, match="did not answer as endpoint 'b'.* endpoint 'a'"):
            endpoint.start_container("b", str(model_dir), **deploy)
        assert list(endpoints_dir().glob("b*")) == []
    finally:
        impostor.shutdown()
    (sent,) = engine.created()
    cmd = sent["Cmd"]
    i = cmd.index("--name")
    said = dict(zip(cmd[i : i + 8 : 2], cmd[i + 1 : i + 8 : 2], strict=True))
    assert said["--name"] == "b" and said["--job"] == "iris-1" and said["--trial"] == "0" and len(said["--instance"]) == 12


def test_a_docker_deploy_claims_its_name_before_the_container_runs(engine, tmp_path, monkeypatch):
    """Issue 27 item 1 (a, b) in docker mode: a name a live deploy holds is refused (no container made); from the
    moment its container runs, a deploy's record names it, so a deploy killed -9 there leaves a record that
    endpoints lists as failed and delete-endpoint removes with its container."""
    import os
    from dataclasses import asdict

    from cloudauto_local import endpoint
    from cloudauto_local.paths import endpoints_dir

    monkeypatch.setenv("CLOUDAUTO_HOME", str(tmp_path / "home"))
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "cloudauto_model.json").write_text("{}")
    deploy = dict(job_id="iris-1", trial=0, image="cloudauto-local:latest", timeout=2)
    endpoints_dir().mkdir(parents=True)
    held = endpoint.EndpointRecord("b", "http://127.0.0.1:9", 0, str(model_dir), "iris-1", 0, state="starting")
    held.deployer, held.deployer_started = os.getpid(), endpoint._started(os.getpid())
    endpoint._write_private(endpoints_dir() / "b.json", json.dumps(asdict(held)))
    with pytest.raises(endpoint.EndpointError, match=f"endpoint 'b' is being deployed by pid {os.getpid()}"):
        endpoint.start_container("b", str(model_dir), **deploy)
    assert not engine.created()
    (endpoints_dir() / "b.json").unlink()

    seen: list[dict] = []

    def killed_here(record):  # the deploy's first look at its running container: a kill -9 would leave this
        seen.append(json.loads((endpoints_dir() / "b.json").read_text()))
        raise KeyboardInterrupt

    monkeypatch.setattr(endpoint, "_serves", killed_here)
    with pytest.raises(KeyboardInterrupt):
        endpoint.start_container("b", str(model_dir), **deploy)
    monkeypatch.undo()
    monkeypatch.setenv("CLOUDAUTO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DOCKER_HOST", engine.url)
    assert len(engine.created()) == 1
    assert (seen[0]["state"], seen[0]["container"], seen[0]["deployer"]) == ("starting", "cloudauto-endpoint-b", os.getpid())
    assert list(endpoints_dir().glob("b*")) == []  # interrupted: nothing of it is left (its container removed too)
    assert ("DELETE", "containers/" + "c0ffee" * 10 + "abcd", None) in engine.requests

    dead = {**seen[0], "deployer": 2**22 + 7}  # as a deploy killed -9 there leaves it
    endpoint._write_private(endpoints_dir() / "b.json", json.dumps(dead))
    engine.requests.clear()
    assert [(e.name, e.status) for e in endpoint.list_endpoints()] == [("b", "failed")]
    endpoint.attach("b").delete()
    assert ("GET", "containers/cloudauto-endpoint-b/json", None) in engine.requests
    assert any(method == "DELETE" for method, _, _ in engine.requests)
    assert [p.name for p in endpoints_dir().glob("b*")] == ["b.removed.json"]


TOKEN = "PLANTEDtok3n-0123456789abcdef"
PLAIN = "PLANTEDplainValue-2468"


def test_the_code_bundle_keeps_references_and_the_container_gets_the_values_in_its_environment(
    engine, tmp_path, monkeypatch
):
    """spec.json under the run folder keeps ${NAME} (as the run store does); the trial's container has the values
    in its environment, and the entry resolves them there, refusing a missing one by its name."""
    from cloudauto_local.container import docker_client, prepare_trial, trial_config, write_code

    monkeypatch.setenv("MY_TOKEN", TOKEN)
    monkeypatch.setenv("PLAIN_SETTING", PLAIN)
    spec = _spec(tmp_path)
    text = (tmp_path / "iris.yaml").read_text().replace("description: ", 'description: "uses ${MY_TOKEN}" #')
    (tmp_path / "iris.yaml").write_text(text + 'tags: {plain: "${PLAIN_SETTING}"}\n')
    spec = cloudauto.JobSpec.from_file(tmp_path / "iris.yaml", overrides=["backends.local.mode=docker"])
    assert spec.description == f"uses {TOKEN}"
    code = write_code(tmp_path / "run", spec)
    for path in code.rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes() and PLAIN.encode() not in path.read_bytes(), path
    stored = json.loads((code / "spec.json").read_text())
    assert stored["description"] == "uses ${MY_TOKEN}" and stored["tags"] == {"plain": "${PLAIN_SETTING}"}

    trial_dir = tmp_path / "run" / "trials" / "0"
    message = {"out_dir": str(trial_dir), "params": {"models": "GBM"}, "base_dir": str(tmp_path)}
    prepare_trial(spec, message)
    config = trial_config(
        spec,
        image="cloudauto-local:latest",
        job_id="iris-1",
        number=0,
        params=message["params"],
        trial_dir=trial_dir,
        code_dir=code,
        variables=spec._interpolated,
    )
    config.pop("detach")
    docker_client().containers.create(**config)
    (sent,) = engine.created()
    env = dict(item.split("=", 1) for item in sent["Env"])
    assert env["MY_TOKEN"] == TOKEN and env["PLAIN_SETTING"] == PLAIN
    for path in (tmp_path / "run").rglob("*"):  # nothing the trial reads from a file holds a value
        if path.is_file() and "input/data" not in str(path):
            assert TOKEN.encode() not in path.read_bytes(), path

    from cloudauto.runtime.sagemaker_entry import spec_data

    data, used = spec_data(code / "spec.json", env)  # what the entry does in the container
    assert data["description"] == f"uses {TOKEN}" and used == {"MY_TOKEN": TOKEN, "PLAIN_SETTING": PLAIN}
    with pytest.raises(RuntimeError, match=r"lacks MY_TOKEN"):
        spec_data(code / "spec.json", {"PLAIN_SETTING": PLAIN})


@pytest.mark.parametrize(
    "code, reason, oom, retried",
    [
        (137, "", False, True),  # `docker kill`, the engine's OOM kill of the container
        (1, "", True, True),  # the engine says it killed a process of the container for memory
        (1, "RuntimeError: the command exited with status -9", False, True),  # the entry's script SIGKILLed
        (1, "ExecuteUserScriptError: ExitCode 137 ... OutOfMemory: Process killed by SIGKILL (signal 9)", False, True),
        (1, "RuntimeError: the command exited with status 1", False, False),  # the script's own failure
        (2, "ValueError: bad data", False, False),
        (143, "", False, False),  # SIGTERM: not the out-of-memory killer's
        (0, "", True, False),
    ],
)
def test_a_container_sigkilled_from_outside_is_an_infrastructure_fault(code, reason, oom, retried):
    """As a process-mode script killed with SIGKILL by something other than cloudauto (limits.trial_retries)."""
    from cloudauto_local.container import killed_from_outside

    assert killed_from_outside(code, reason, oom) is retried


FORECAST = {
    "name": "fm",
    "task": "time_series_forecasting",
    "data": {"train": "train.csv", "label": "count", "timestamp": "timestamp", "item_id": "station", "prediction_length": 4},
    "metric": "MASE",
    "backends": {"local": {"mode": "docker", "image": "cloudauto-local:latest"}},
}


@pytest.mark.parametrize(
    "task, space",
    [
        ("time_series_forecasting", {"models": {"choice": ["Chronos2", "ETS"]}, "Chronos2.model_path": "org/chronos"}),
        ("time_series_forecasting", {"presets": "medium_quality", "Chronos2.model_path": "org/chronos"}),  # a preset holding it
        ("tabular_classification", {"models": {"choice": ["MITRA", "GBM"]}, "MITRA.hf_model": "org/mitra"}),
        ("tabular_classification", {"presets": "extreme_quality"}),  # atk5 F2: its portfolio holds TabICL and TabDPT-Turbo
        ("tabular_classification", {"presets": "tabarena"}),
    ],
)
def test_foundation_trials_in_docker_mode_need_an_image_with_the_foundation_extra(engine, task, space):
    """Docker mode refuses before anything runs a spec whose trials fit a foundation model, unless the image says it
    holds them (label cloudauto.foundation); a spec of classical models only needs no such image."""
    from cloudauto_local.container import DockerModeError, docker_client, preflight

    if task == "tabular_classification":
        head = {**FORECAST, "task": task, "data": {"train": "train.csv", "label": "label"}, "metric": "accuracy"}
    else:
        head = FORECAST
    spec = cloudauto.JobSpec.from_dict({**head, "sweep": {"space": space}})
    with pytest.raises(DockerModeError, match=r"has no foundation models \(its label cloudauto.foundation is not true.*process mode"):
        preflight(docker_client(), spec, "cloudauto-local:latest")
    classical = ["ETS", "Theta"] if task == "time_series_forecasting" else ["GBM", "XT"]
    plain = cloudauto.JobSpec.from_dict({**head, "sweep": {"space": {"models": {"choice": classical}}}})
    preflight(docker_client(), plain, "cloudauto-local:latest")  # no foundation model: any image
    engine.labels = {"cloudauto.foundation": "true"}
    preflight(docker_client(), spec, "cloudauto-local:latest")  # an image that says it has them: fine
