"""The core must stay light: validating a spec imports no cloud SDK, pandas, torch or AutoGluon."""

from __future__ import annotations

import json
import subprocess
import sys

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


def test_validate_builds_only_its_own_commands(tmp_path):
    """Issue 29: the other command modules (jobs, endpoints, batch, doctor ...) are imported only when one of their
    commands runs or the commands are listed."""
    loaded = _cli_imports(tmp_path, "validate", *map(str, EXAMPLES))
    others = {f"cloudauto.cli.{m}" for m in ("batch", "doctor", "endpoints", "housekeeping", "init", "jobs", "prices", "setup")}
    assert "cloudauto.cli.specs" in loaded and not loaded & others, sorted(loaded & others)


def test_validate_does_not_import_subprocess(tmp_path):
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
