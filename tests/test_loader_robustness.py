"""Whatever bytes a user hands the loader, the answer is a SpecError, never a traceback."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloudauto.spec import JobSpec, SpecError
from cloudauto.spec.loader import MAX_BYTES

from .conftest import EXAMPLES


def _issue(path: Path):
    with pytest.raises(SpecError) as info:
        JobSpec.from_file(path)
    return info.value.issues[0]


@pytest.mark.parametrize(
    ("content", "words", "line"),
    [
        (b"", "empty", None),
        (b"   \n# only a comment\n\n", "empty", None),
        (b"name: [unclosed\n", "malformed YAML", 2),
        (b"name: x\n  bad: indent\n", "malformed YAML", 2),
        (b"name: x\ntask:\t- y\n", "malformed YAML", None),
        (b"- a\n- b\n", "mapping of fields", 1),
        (b"just a string\n", "mapping of fields", 1),
        (b"a: 1\n---\nb: 2\n", "malformed YAML", 2),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not UTF-8", 1),
        (b"name: x\x00\n", "NUL", 1),
        (b"name: !!python/object:os.system x\n", "unsupported YAML tag", 1),
        (b"name: !custom x\n", "unsupported YAML tag", 1),
        (b"name: !!binary aGVsbG8=\n", "binary", 1),
        (b"? [a, b]\n: 1\n", "plain name", 1),
        (
            b"a: &a [x, x, x, x, x, x, x, x, x, x]\n"
            b"b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
            b"c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
            b"d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
            b"e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
            b"f: [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n",
            "expands",
            None,
        ),
        (b"a: " + b"[" * 5000 + b"]" * 5000 + b"\n", "", None),
    ],
    ids=[
        "empty",
        "comments",
        "unclosed",
        "indent",
        "tab",
        "list",
        "string",
        "multi-doc",
        "png",
        "nul",
        "python-tag",
        "custom-tag",
        "binary",
        "complex-key",
        "billion-laughs",
        "deep",
    ],
)
def test_bad_files_give_clean_errors(tmp_path, content, words, line):
    path = tmp_path / "spec.yaml"
    path.write_bytes(content)
    issue = _issue(path)
    assert words in issue.message
    assert issue.file == str(path)
    if line is not None:
        assert issue.line == line


def test_huge_file_is_refused_before_parsing(tmp_path):
    path = tmp_path / "huge.yaml"
    path.write_bytes(b"name: x\n" + b"# padding\n" * (MAX_BYTES // 10 + 10))
    assert "bytes" in _issue(path).message


def test_missing_file_and_directory(tmp_path):
    assert _issue(tmp_path / "nope.yaml").message == "no such file"
    assert "directory" in _issue(tmp_path).message


def test_utf8_bom_is_accepted(tmp_path):
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + EXAMPLES[0].read_bytes())
    assert JobSpec.from_file(path).name


def test_yaml_merge_keys(tmp_path):
    path = tmp_path / "merge.yaml"
    path.write_text(
        "x-common: &common {label: y, train: a.csv}\n"
        "name: m\ntask: tabular_regression\nmetric: r2\ndata:\n  <<: *common\n  test: b.csv\n"
    )
    # x-common is an unknown field: the merge works, the extra key is reported with a hint
    issue = _issue(path)
    assert issue.field == "x-common" and issue.line == 1


# ---- property-based: arbitrary documents and mutated valid specs ----------------------

scalars = st.one_of(st.none(), st.booleans(), st.integers(-(10**6), 10**6), st.floats(allow_nan=True), st.text(max_size=30))
documents = st.recursive(
    scalars,
    lambda kids: st.one_of(st.lists(kids, max_size=5), st.dictionaries(st.text(max_size=12), kids, max_size=5)),
    max_leaves=30,
)
KEYS = [
    "name",
    "task",
    "engine",
    "data",
    "metric",
    "sweep",
    "limits",
    "compute",
    "command",
    "backends",
    "train",
    "label",
    "space",
    "sampling",
    "early_termination",
    "policy",
    "slack_factor",
    "max_trials",
    "timeout",
    "uniform",
    "choice",
]


def _assert_only_spec_errors(text: str, tmp_path: Path) -> None:
    path = tmp_path / "prop.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass") if _encodable(text) else path.write_bytes(
        text.encode("utf-8", "replace")
    )
    try:
        JobSpec.from_file(path)
    except SpecError as exc:
        assert exc.issues and all(i.message for i in exc.issues)


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=documents)
def test_arbitrary_yaml_documents(tmp_path, doc):
    _assert_only_spec_errors(yaml.safe_dump(doc, allow_unicode=True), tmp_path)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=300))
def test_arbitrary_text(tmp_path, text):
    _assert_only_spec_errors(text, tmp_path)


_VALID = [yaml.safe_load(p.read_text()) for p in EXAMPLES]


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, (*prefix, i))


@st.composite
def mutated_specs(draw):
    doc = copy.deepcopy(draw(st.sampled_from(_VALID)))
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(doc) if p]
        target = draw(st.sampled_from(paths))
        parent = doc
        for part in target[:-1]:
            parent = parent[part]
        action = draw(st.sampled_from(["replace", "delete", "rename", "add"]))
        if action == "replace":
            parent[target[-1]] = draw(documents)
        elif action == "delete":
            del parent[target[-1]]
        elif action == "rename" and isinstance(parent, dict):
            parent[draw(st.sampled_from(KEYS) | st.text(max_size=8))] = parent.pop(target[-1])
        elif action == "add" and isinstance(parent, dict):
            parent[draw(st.sampled_from(KEYS))] = draw(documents)
    return doc


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=mutated_specs())
def test_mutated_valid_specs(tmp_path, doc):
    _assert_only_spec_errors(yaml.safe_dump(doc, allow_unicode=True), tmp_path)
    try:  # the same document from Python
        JobSpec.from_dict(json.loads(json.dumps(doc, default=str)))
    except SpecError:
        pass
