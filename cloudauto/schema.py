"""The published JSON Schema of the spec (for yaml-language-server and other editors)."""

from __future__ import annotations

import json
from typing import Any

SCHEMA_ID = "https://cloudauto.dev/schema/v1/cloudauto.schema.json"


def json_schema() -> dict[str, Any]:
    from .spec.models import JobSpec

    schema = JobSpec.model_json_schema(mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "cloudauto job spec v1",
        **{k: v for k, v in schema.items() if k != "title"},
    }


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"


__all__ = ["SCHEMA_ID", "json_schema", "schema_text"]
