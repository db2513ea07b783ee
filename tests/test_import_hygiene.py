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
