"""The published JSON Schema accepts every example, in every input form, and is in sync."""

from __future__ import annotations

import json

import jsonschema
import pytest
import yaml

from cloudauto.schema import json_schema

from .conftest import EXAMPLES, ROOT


def test_committed_schema_is_current():
    committed = json.loads((ROOT / "job_specs" / "cloudauto.schema.json").read_text())
    assert committed == json.loads(json.dumps(json_schema())), "run `make schema` and commit the result"


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_validate_against_the_schema(path):
    jsonschema.validate(yaml.safe_load(path.read_text()), json_schema())


def test_schema_rejects_unknown_fields_for_editors():
    doc = yaml.safe_load(EXAMPLES[0].read_text())
    doc["limts"] = {}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, json_schema())


def test_schema_describes_both_distribution_forms():
    schema = json.dumps(json_schema())
    assert "loguniform" in schema and "natural-log exponents" in schema
