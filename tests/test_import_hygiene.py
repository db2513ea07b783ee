"""The core must stay light: validating a spec imports no cloud SDK, pandas, torch or AutoGluon."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from .conftest import EXAMPLES, ROOT

HEAVY = ("azure", "sagemaker", "boto3", "botocore", "pandas", "numpy", "torch", "autogluon", "optuna", "moto")

PROBE = """
import json, sys
import cloudauto
from cloudauto.cli import main
from cloudauto.registry import available_backends
for path in sys.argv[1:]:
    cloudauto.JobSpec.from_file(path)
available_backends()
try:
    cloudauto.JobSpec.from_yaml("name: x\\ntask: nope\\n")
except cloudauto.SpecError:
    pass
print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))
"""


def test_validating_imports_nothing_heavy():
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *map(str, EXAMPLES)], capture_output=True, text=True, cwd=ROOT, check=True
    )
    loaded = set(json.loads(result.stdout))
    assert not loaded & set(HEAVY), f"heavy modules imported: {sorted(loaded & set(HEAVY))}"


def test_loading_a_plugin_imports_no_cloud_sdk():
    probe = (
        "import sys, json; from cloudauto.registry import get_backend\n"
        "[get_backend(n) for n in ('local', 'sagemaker', 'azureml')]\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True)
    assert not set(json.loads(result.stdout)) & set(HEAVY)


def test_the_cli_reaches_a_backend_only_through_the_registry():
    """No command imports a plugin package: a backend not installed is the registry's clear error, never an ImportError."""
    import ast

    plugins = ("cloudauto_local", "cloudauto_sagemaker", "cloudauto_azureml")
    found = []
    for path in sorted((ROOT / "cloudauto" / "cli").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            names += [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            found += [f"{path.name}:{node.lineno} {n}" for n in names if n.split(".")[0] in plugins]
    assert not found, found


CLI_PROBE = """
import atexit, json, sys
listing, sys.argv = sys.argv[1], ["cloudauto", *sys.argv[2:]]
atexit.register(lambda: open(listing, "w").write(json.dumps(sorted(sys.modules))))
from cloudauto.cli import main
main()
"""


def _cli_imports(tmp_path, *argv: str) -> set[str]:
    """The modules a `cloudauto` command run in a new process has imported when it exits."""
    listing = tmp_path / "modules.json"
    result = subprocess.run([sys.executable, "-c", CLI_PROBE, str(listing), *argv], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode in (0, 2), result.stderr  # 2: a spec this backend refuses, still compiled
    return set(json.loads(listing.read_text()))


def _compile_imports(tmp_path, backend: str) -> set[str]:
    """The top-level packages `cloudauto compile` of every example spec (written out with -o) has imported."""
    argv = ["compile", *map(str, EXAMPLES), "--backend", backend, "--format", "json", "-o", str(tmp_path / "out")]
    loaded = {m.split(".")[0] for m in _cli_imports(tmp_path, *argv)}
    assert f"cloudauto_{backend}" in loaded  # the plugin compiled
    return loaded


def test_validate_builds_only_its_own_commands(tmp_path, example_images):
    """Issue 29: the other command modules (jobs, endpoints, batch, doctor ...) are imported only when one of their
    commands runs or the commands are listed."""
    loaded = _cli_imports(tmp_path, "validate", *map(str, EXAMPLES))
    others = {f"cloudauto.cli.{m}" for m in ("batch", "doctor", "endpoints", "housekeeping", "init", "jobs", "prices", "setup")}
    assert "cloudauto.cli.specs" in loaded and not loaded & others, sorted(loaded & others)


def test_validate_does_not_import_subprocess(tmp_path, example_images):
    """Only --changed-since runs git: a plain validate does not pay for importing subprocess (selectors, signal)."""
    assert "subprocess" not in _cli_imports(tmp_path, "validate", *map(str, EXAMPLES))


def test_compiling_for_sagemaker_imports_no_sdk_and_no_pandas(tmp_path):
    """The region -> DLC registry account map is cloudauto's own table: compile needs neither sagemaker nor boto3."""
    heavy = _compile_imports(tmp_path, "sagemaker") & {"sagemaker", "boto3", "botocore", "pandas", "numpy", "pyarrow", "scipy"}
    assert not heavy, f"compile for sagemaker imported {sorted(heavy)}"


def test_compiling_for_sagemaker_names_the_job_without_compressing_its_source(tmp_path):
    """Issue 29: the job's name hashes the source tarball; gzip (level 9) of it was about 80 ms of each compile.
    The name comes from the uncompressed tar; only submit, which uploads it, compresses it. Nor is the code that
    reads prices online imported (urllib.request: http.client and ssl)."""
    loaded = _cli_imports(tmp_path, "compile", str(ROOT / "job_specs" / "iris.yaml"), "--backend", "sagemaker")
    assert "cloudauto_sagemaker.compile" in loaded
    assert not loaded & {"gzip", "urllib.request", "ssl", "http.client"}, sorted(loaded & {"gzip", "urllib.request", "ssl"})


def test_compiling_for_azureml_imports_azure_ai_ml_and_no_other_cloud_sdk(tmp_path):
    """azure-ai-ml's own classes build the job (its import is the floor); nothing of AWS, pandas or numpy comes along."""
    loaded = _compile_imports(tmp_path, "azureml")
    assert "azure" in loaded
    heavy = loaded & {"sagemaker", "boto3", "botocore", "pandas", "numpy", "pyarrow", "scipy", "autogluon", "torch"}
    assert not heavy, f"compile for azureml imported {sorted(heavy)}"


# pydantic's plugin lookup reads every installed distribution's entry points (group "pydantic") the first time a
# model is built; the probe records each lookup, then prints what it saw as its last line
PLUGIN_PROBE = """
import importlib.metadata as md, json, os, sys
looked = []
real = md.entry_points
def entry_points(**kwargs):
    looked.append(kwargs.get("group"))
    return real(**kwargs)
md.entry_points = entry_points
code = None
if sys.argv[1] == "library":
    import cloudauto
    for path in sys.argv[2:]:
        cloudauto.JobSpec.from_file(path)
else:
    from cloudauto.cli import main
    try:
        main(sys.argv[1:])
    except SystemExit as exc:
        code = exc.code
print(json.dumps({"code": code, "looked": looked, "env": os.environ.get("PYDANTIC_DISABLE_PLUGINS")}))
"""


def _plugin_probe(*args: str, env: dict | None = None) -> dict:
    clean = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}
    result = subprocess.run(
        [sys.executable, "-c", PLUGIN_PROBE, *args], capture_output=True, text=True, cwd=ROOT, env={**clean, **(env or {})}
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("command", ["validate", "compile"])
def test_the_cli_loads_specs_without_looking_up_pydantic_plugins(command):
    """30-40 ms of a new `cloudauto validate` went to reading every distribution's entry points for pydantic plugins,
    which would only watch cloudauto's own models; the variable that turns the lookup off is gone again afterwards,
    so no child process the command starts (a trial's script) loses its plugins."""
    seen = _plugin_probe(command, str(ROOT / "job_specs" / "iris.yaml"), str(ROOT / "job_specs" / "diabetes.yaml"))
    assert seen["code"] == 0
    assert "pydantic" not in seen["looked"]
    assert seen["env"] is None


def test_a_library_user_keeps_pydantic_plugins_and_a_user_setting_is_kept():
    assert "pydantic" in _plugin_probe("library", str(EXAMPLES[0]))["looked"]  # import cloudauto changes nothing
    seen = _plugin_probe("validate", str(EXAMPLES[0]), env={"PYDANTIC_DISABLE_PLUGINS": "logfire"})
    assert seen["code"] == 0 and seen["env"] == "logfire"
    assert "pydantic" in seen["looked"]  # the user's own choice of plugins is theirs


def test_spec_model_defaults_are_made_by_python_functions():
    """pydantic reads the signature of every default_factory when it builds a model; a builtin's (list, dict) is parsed
    from its text by the tokenizer, whose regex alone costs ~5 ms of the first validation in a new process."""
    import inspect

    from cloudauto.spec.loader import _models_in
    from cloudauto.spec.models import JobSpec

    seen, todo, slow = set(), [JobSpec], []
    while todo:
        model = todo.pop()
        if model in seen:
            continue
        seen.add(model)
        factories = {**{n: f.default_factory for n, f in model.model_fields.items()}}
        factories.update({n: getattr(a, "default_factory", None) for n, a in model.__private_attributes__.items()})
        slow += [f"{model.__name__}.{n}: {f!r}" for n, f in factories.items() if f is not None and not inspect.isfunction(f)]
        todo += [m for f in model.model_fields.values() for m in _models_in(f.annotation)]
    assert len(seen) > 10 and not slow, slow
