"""What counts as a secret, where it is hidden, and what a file written for a service holds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cloudauto.secrets import Redactor, is_credential_name, is_secret_name
from cloudauto.spec.loader import load_spec_text, resolve_references

from .conftest import ROOT, dedent

EXE = Path(sys.executable).with_name("cloudauto")
ROLE = "arn:aws:iam::123456789012:role/PlantedTrainingRole"
DB_PW = "PLANTEDdbPassword-0987"
SETTING = "PLANTEDsetting-4242"


@pytest.mark.parametrize(
    "name", ["PYTHONWARNINGS", "LEARNING_RATE_SCHEDULE", "CONTROLLER_HOST", "CARNIVAL_DAY", "MONKEY_PATCH", "KEYRING_BACKEND"]
)
def test_a_name_that_only_contains_a_secret_word_is_not_secret(name):
    assert not is_secret_name(name)
    value = "a long ordinary value of " + name
    assert Redactor({name: value})(f"x={value}") == f"x={value}"  # logs are not mangled


@pytest.mark.parametrize("name", ["HF_TOKEN", "hfApiToken", "DB_PW", "AWS_SECRET_ACCESS_KEY", "AZURE_STORAGE_CONNECTION_STRING"])
def test_a_credential_is_known_by_a_word_of_its_name(name):
    assert is_credential_name(name) and is_secret_name(name)


def test_a_role_is_an_identifier_masked_in_print_but_not_in_a_file_for_a_service():
    env = {"TRAINING_ROLE": ROLE, "HF_TOKEN": "hf_0123456789abcdef"}
    assert not is_credential_name("TRAINING_ROLE") and is_secret_name("TRAINING_ROLE")
    text = f"role {ROLE} token hf_0123456789abcdef"
    assert Redactor(env)(text) == "role <secret:TRAINING_ROLE> token <secret:HF_TOKEN>"
    assert Redactor(env, identifiers=False)(text) == f"role {ROLE} token <secret:HF_TOKEN>"


def test_a_value_from_a_reference_is_hidden_in_print_whatever_its_name():
    hide = Redactor({}, extra=[("SETTING", "plain-but-from-env")])
    assert hide("v=plain-but-from-env") == "v=<secret:SETTING>"
    assert (
        Redactor({}, extra=[("SETTING", "plain-but-from-env")], identifiers=False)("plain-but-from-env") == "plain-but-from-env"
    )


def test_the_stored_form_round_trips_literals_defaults_and_short_values():
    text = dedent(
        """
        name: x
        description: "a ${MY_TOKEN} $${LITERAL} ${SHORT} ${OPT:-dflt}"
        task: tabular_regression
        engine: command
        command: {run: "python t.py ${{sweep.a}}", env: {T: "${MY_TOKEN}", O: "${OPT:-dflt}"}}
        metric: {name: score, goal: maximize}
        sweep: {space: {a: {choice: [1, 2]}}}
        """
    )
    env = {"MY_TOKEN": "secret-value-123", "SHORT": "abc", "OPT": "optional-value-9"}
    spec = load_spec_text(text, env=env)
    stored = spec.to_stored()
    assert stored["description"] == "a ${MY_TOKEN} $${LITERAL} abc ${OPT:-dflt}"
    assert stored["command"]["env"] == {"T": "${MY_TOKEN}", "O": "${OPT:-dflt}"}
    back, used, _, missing = resolve_references(stored, env)
    assert back == spec.to_dict() and used == {"MY_TOKEN": "secret-value-123", "OPT": "optional-value-9"} and not missing
    back, _, _, missing = resolve_references(stored, {})
    assert missing == ["MY_TOKEN"] and back["command"]["env"]["O"] == "dflt"


SPEC = """
name: at-rest-compile
description: "reads ${SOME_SETTING}"
task: tabular_regression
engine: command
command:
  run: python train.py
  image: 763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.3.0-cpu-py311
  env: {DB_PW: "${DB_PW}"}
metric: {name: score, goal: maximize}
backends:
  sagemaker: {role: "${SAGEMAKER_ROLE}", bucket: a-bucket, region: us-east-1}
"""


def test_compile_prints_no_reference_value_and_its_request_file_is_submittable(tmp_path):
    """compile prints <secret:...> for ${DB_PW} and the role; the file written (-o) holds the real role, which botocore accepts."""
    import botocore.session
    import botocore.validate

    (tmp_path / "train.py").write_text("print('hi')\n")
    spec = tmp_path / "spec.yaml"
    spec.write_text(dedent(SPEC))
    env = {**os.environ, "DB_PW": DB_PW, "SAGEMAKER_ROLE": ROLE, "SOME_SETTING": SETTING}
    for backend in ("local", "azureml", "sagemaker"):
        printed = subprocess.run(
            [str(EXE), "compile", str(spec), "-b", backend, "--set", "backends.azureml.compute=cpu"],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert printed.returncode == 0, printed.stderr
        said = printed.stdout + printed.stderr
        assert DB_PW not in said and ROLE not in said and SETTING not in said, backend
        assert ("<secret:SAGEMAKER_ROLE>" if backend == "sagemaker" else "<secret:DB_PW>") in said, backend
        if backend == "local":  # a ${NAME} value is hidden in print whatever its name
            assert "reads <secret:SOME_SETTING>" in said

    out = tmp_path / "compiled"
    written = subprocess.run(
        [str(EXE), "compile", str(spec), "-b", "sagemaker", "-o", str(out)], capture_output=True, text=True, env=env, timeout=120
    )
    assert written.returncode == 0, written.stderr
    text = next(out.glob("*.json")).read_text()
    assert DB_PW not in text  # a credential stays out of the file
    request = json.loads(text)
    # the trial's environment carries the values spec.json reads: a credential masked, any other as it is
    assert request["TrainingJobDefinition"]["Environment"] == {
        "DB_PW": "<secret:DB_PW>",
        "SAGEMAKER_ROLE": ROLE,
        "SOME_SETTING": SETTING,
    }
    assert text.count(SETTING) == 1  # nowhere else: the uploaded spec.json keeps ${SOME_SETTING}
    assert request["TrainingJobDefinition"]["RoleArn"] == ROLE
    model = botocore.session.get_session().get_service_model("sagemaker")
    shape = model.operation_model("CreateHyperParameterTuningJob").input_shape
    botocore.validate.validate_parameters(request, shape)  # raises ParamValidationError on a placeholder role


def test_the_documents_say_what_the_code_does():
    secrets = (ROOT / "docs" / "how-to" / "secrets.md").read_text()  # what the README said, now in the docs
    ci = (ROOT / "docs" / "ci.md").read_text()
    for doc in (secrets, ci):
        assert "${NAME}" in doc and "compile -o" in doc
    assert "TrainingJobDefinition.Environment" in ci and "environment_variables" in ci  # where the cloud trial's values are
    assert "uploads the same code" in ci and "never its value" in ci
    assert "ROLE, ARN" not in ci  # role ARNs are identifiers now: a file for the service holds them
    assert "holds `<secret:SAGEMAKER_ROLE>` where the submitted request holds the role" not in ci
