"""Whatever bytes a user hands the loader, the answer is a SpecError, never a traceback."""

from __future__ import annotations

import copy
import json
import math
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


# ---- hostile specs (issue 28): each ends in a SpecError with a line, in seconds, never a crash or a hang --------

import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

from cloudauto.spec import loader as _loader  # noqa: E402

MAX_DEPTH = getattr(_loader, "MAX_DEPTH", 100)

from .conftest import BASE, ROOT  # noqa: E402

EXE = Path(sys.executable).with_name("cloudauto")
# engine: command takes any parameter name (engine: autogluon only AutoGluon's)
COMMAND = "engine: command\ncommand:\n  run: python train.py\n"
GRID = BASE + "sweep:\n  sampling: grid\n  space:\n    x: {dist}\n" + COMMAND
RANDOM = BASE + "sweep:\n  sampling: random\n  space:\n    x: {dist}\n" + COMMAND
DEEP = BASE + "tags: " + "[" * 26_000 + "]" * 26_000 + "\n"

HOSTILE = {
    "deep-26000": (DEEP, "nested more than", 7),
    "deep-flow-map": (BASE + "tags: " + "{a: " * 5000 + "1" + "}" * 5000 + "\n", "nested more than", 7),
    "deep-block": (
        BASE + "".join(f"{'  ' * i}k{i}:\n" for i in range(MAX_DEPTH + 5)) + "  " * (MAX_DEPTH + 5) + "v: 1\n",
        "nested more than",
        None,
    ),
    "quniform-tiny-q": (GRID.format(dist="{quniform: [8, 64, 1e-300]}"), "10,000", 10),
    "randint-1e12": (GRID.format(dist="{randint: [0, 1e12]}"), "10,000", 10),
    "randint-1e23": (GRID.format(dist="{randint: [0, 1e23]}"), "64-bit", 10),
    "grid-product": (
        BASE + "sweep:\n  sampling: grid\n  space:\n    a: {randint: [0, 9000]}\n    b: {randint: [0, 9000]}\n",
        "points",
        9,
    ),
    "lognormal-overflow": (RANDOM.format(dist="{lognormal: [1000, 1]}"), "overflow", 10),
    "normal-overflow": (RANDOM.format(dist="{normal: [0, 1e308]}"), "overflow", 10),
    "uniform-overflow": (RANDOM.format(dist="{uniform: [-1e308, 1e308]}"), "overflow", 10),
    "quniform-empty": (RANDOM.format(dist="{quniform: [0.1, 0.2, 1]}"), "no multiple", 10),
    "aliases": (
        BASE
        + "x: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n"
        + "".join(f"x{i}: &a{i} [{', '.join(['*a' if i == 0 else f'*a{i - 1}'] * 10)}]\n" for i in range(5)),
        "expands",
        None,
    ),
}


def _line_of(issue) -> int | None:
    return issue.line


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_spec_is_refused_with_a_line(tmp_path, name):
    text, words, line = HOSTILE[name]
    path = tmp_path / "hostile.yaml"
    path.write_text(text)
    started = time.monotonic()
    with pytest.raises(SpecError) as info:
        JobSpec.from_yaml(text, source=str(path))
    issue = next(i for i in info.value.issues if i.level == "error")
    assert time.monotonic() - started < 5
    assert words in issue.message, issue
    assert issue.line is not None, issue
    if line is not None:
        assert issue.line == line, issue


def _cli(*args: str, home: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(EXE), *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, "CLOUDAUTO_HOME": str(home)},
    )


@pytest.mark.parametrize("name", ["deep-26000", "quniform-tiny-q", "randint-1e12", "randint-1e23", "lognormal-overflow"])
@pytest.mark.parametrize("command", ["validate", "submit"])
def test_hostile_spec_on_the_command_line_exits_1_with_a_line(tmp_path, name, command):
    text, words, _ = HOSTILE[name]
    path = tmp_path / "hostile.yaml"
    path.write_text(text)
    started = time.monotonic()
    result = _cli(command, str(path), home=tmp_path / "home")
    assert time.monotonic() - started < 30
    assert result.returncode == 1, (result.returncode, result.stderr[-2000:])
    assert words in result.stderr and f"{path}:" in result.stderr, result.stderr[-2000:]
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert not (tmp_path / "home" / "runs").exists() or not any((tmp_path / "home" / "runs").iterdir())


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("{quniform: [8, 64, 1e-300]}", "10,000"),
        ("{randint: [0, 1e12]}", "10,000"),
        ("{randint: [0, 1e23]}", "64-bit"),
        ("[" * 26_000 + "]" * 26_000, "nested more than"),
    ],
    ids=["quniform", "randint-1e12", "randint-1e23", "deep"],
)
def test_hostile_set_values_exit_1(tmp_path, value, words):
    path = tmp_path / "grid.yaml"
    path.write_text(GRID.format(dist="{choice: [1, 2]}"))
    result = _cli("validate", str(path), "--set", f"sweep.space.x={value}", home=tmp_path / "home")
    assert result.returncode == 1, (result.returncode, result.stderr[-2000:])
    assert words in result.stderr and "--set sweep.space.x=" in result.stderr, result.stderr[-2000:]


OVERFLOWING_Q = ["{quniform: [0, 1e300, 1e-10]}", "{qloguniform: [1e-300, 1e300, 1e-300]}", "{quniform: [0, 1e20, 1e-300]}"]


@pytest.mark.parametrize("sampling", ["random", "grid", "bayesian"])
@pytest.mark.parametrize("dist", OVERFLOWING_Q)
def test_overflowing_q_distribution_is_refused_at_its_line(sampling, dist):
    text = RANDOM.replace("sampling: random", f"sampling: {sampling}").format(dist=dist)
    with pytest.raises(SpecError) as info:
        JobSpec.from_yaml(text, source="q.yaml")
    issue = next(i for i in info.value.issues if i.level == "error")
    assert issue.line == 10 and ("overflow" in issue.message or "10,000" in issue.message), issue


@pytest.mark.parametrize("sampling", ["random", "bayesian"])
def test_overflowing_q_distribution_on_set_exits_1(tmp_path, sampling):
    path = tmp_path / "spec.yaml"
    path.write_text(GRID.format(dist="{choice: [1, 2]}"))
    for dist in OVERFLOWING_Q:
        result = _cli(
            "validate", str(path), "--set", f"sweep.sampling={sampling}", "--set", f"sweep.space.x={dist}", home=tmp_path / "h"
        )
        assert result.returncode == 1, (dist, result.returncode, result.stderr[-2000:])
        assert "overflows" in result.stderr and "--set sweep.space.x=" in result.stderr, result.stderr[-2000:]


def test_set_reads_values_as_the_file_does(tmp_path):
    path = tmp_path / "grid.yaml"
    path.write_text(RANDOM.format(dist="{uniform: [1e-300, 1e-3]}"))
    from_file = JobSpec.from_file(path)
    from_set = JobSpec.from_file(path, overrides=["sweep.space.x={uniform: [1e-300, 1e-3]}"])
    assert from_file.space == from_set.space
    quoted = JobSpec.from_file(path, overrides=['description="5"'])
    assert quoted.description == "5"  # quoted on the command line as in a file: a string
    assert JobSpec.from_file(path, overrides=["limits.max_trials=1e1"]).limits.max_trials == 10


def test_set_value_not_utf8_is_an_invalid_spec(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text(BASE)
    result = subprocess.run(
        [str(EXE), "validate", str(path), "--set", b"name=\xff"],
        capture_output=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, "CLOUDAUTO_HOME": str(tmp_path / "home")},
    )
    assert result.returncode == 1, result.stderr[-2000:]
    assert b"not UTF-8" in result.stderr and b"internal error" not in result.stderr


# a fuzz of the shapes above: random depths, grid bounds and distribution parameters, each refused or accepted in time

fuzz_dists = st.one_of(
    st.builds(
        lambda a, b, q: f"{{quniform: [{a}, {b}, {q}]}}",
        st.integers(-10, 10),
        st.integers(11, 10**6),
        st.sampled_from(["1e-300", "1e-12", "0.5", "1"]),
    ),
    st.builds(lambda a, b: f"{{randint: [{a}, {b}]}}", st.integers(-(10**30), 0), st.integers(1, 10**30)),
    st.builds(lambda m, s: f"{{lognormal: [{m}, {s}]}}", st.floats(-1e4, 1e4), st.floats(1e-3, 1e4)),
    st.builds(lambda m, s: f"{{normal: [{m}, {s}]}}", st.floats(-1e308, 1e308), st.floats(1e-3, 1e308)),
    st.builds(lambda d: "[" * d + "]" * d, st.integers(MAX_DEPTH - 5, 30_000)),
    # the q-distributions and bounds at every scale a float takes, accepted or not
    st.builds(
        lambda kind, a, b, q: f"{{{kind}: [{a!r}, {b!r}, {q!r}]}}",
        st.sampled_from(["quniform", "qloguniform"]),
        st.sampled_from([0, 1e-300, 5e-324, 1, -1e300, 8]),
        st.sampled_from([1e300, 1e20, 1.7e308, 64, 1e-299, 10]),
        st.sampled_from([1e-300, 1e-10, 1e-3, 0.1, 1, 100, 1e290, 1e300]),
    ),
    st.builds(
        lambda kind, a, b: f"{{{kind}: [{a!r}, {b!r}]}}",
        st.sampled_from(["uniform", "loguniform", "randint"]),
        st.sampled_from([-(2**63), -1e300, 0, 5e-324, 1, 2**63 - 2]),
        st.sampled_from([1e-323, 2, 1e300, 1.7e308, 2**53 + 1, 2**63]),
    ),
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(dist=fuzz_dists, grid=st.booleans())
def test_fuzzed_distributions_load_or_refuse_with_a_line(dist, grid):
    """Refused with a line, or drawn from by every sampler (random and TPE, a grid when it is one) without an error."""
    from cloudauto.spec.metrics import Goal
    from cloudauto.tuning.samplers import BayesianSampler, Past, RandomSampler, make_sampler, sample

    text = (GRID if grid else RANDOM).format(dist=dist)
    try:
        spec = JobSpec.from_yaml(text, source="fuzz.yaml")
    except SpecError as exc:
        assert all(i.line is not None for i in exc.issues if i.level == "error"), exc
        return
    sampler = make_sampler(spec)  # an accepted grid has a size known in time
    import random

    for _, _, d in spec.space.distributions():
        for seed in range(20):
            value = sample(d, random.Random(seed))
            assert not isinstance(value, float) or value == value
    if grid:
        assert sampler.size <= 100_000
        return
    for cls in (RandomSampler, BayesianSampler):
        other, history = cls(spec.space, Goal.MAXIMIZE, 1), []
        for n in range(3):
            proposal = other.suggest(n, history)
            if proposal is None:
                break
            value = proposal[0]["x"]
            assert math.isfinite(value), (cls.__name__, value)
            history.append(Past(n, *proposal, value=float(n)))


# data built in Python (JobSpec.from_dict, the run store) or by a --set path is bounded as the YAML is, without recursion


def _deep(levels: int, leaf=1):
    value = leaf
    for _ in range(levels):
        value = [value]
    return value


@pytest.mark.parametrize("levels", [MAX_DEPTH + 1, 100_000])
@pytest.mark.parametrize("shape", ["list", "dict"])
def test_from_dict_deep_is_a_spec_error_naming_the_path(levels, shape):
    data = yaml.safe_load(BASE)
    value = _deep(levels) if shape == "list" else 1
    if shape == "dict":
        for _ in range(levels):
            value = {"k": value}
    data["tags"] = value
    with pytest.raises(SpecError) as info:
        JobSpec.from_dict(data)
    issue = info.value.issues[0]
    assert "nested more than" in issue.message, issue
    assert issue.path[0] == "tags" and len(issue.path) == MAX_DEPTH + 1, issue.path
    assert issue.field.startswith("tags[0][0]" if shape == "list" else "tags.k.k"), issue.field


def test_from_dict_cycle_and_shared_fanout_are_spec_errors():
    data = yaml.safe_load(BASE)
    data["tags"] = data  # a cycle: as deep as one likes
    with pytest.raises(SpecError, match="nested more than"):
        JobSpec.from_dict(data)
    fan: list = [1] * 10
    for _ in range(7):
        fan = [fan] * 10  # 10**8 values from 80 lists
    started = time.monotonic()
    with pytest.raises(SpecError, match="more than 100,000 values"):
        JobSpec.from_dict({**yaml.safe_load(BASE), "tags": fan})
    assert time.monotonic() - started < 5


def test_deep_set_path_is_a_spec_error(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text(BASE)
    deep = "tags" + ".k" * 100_000 + "=1"
    with pytest.raises(SpecError) as info:
        JobSpec.from_file(path, overrides=[deep])
    issue = info.value.issues[0]
    assert "nested more than" in issue.message and issue.file.startswith("--set tags.k.k"), issue
