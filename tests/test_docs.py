"""Every example in the docs runs, or says why it cannot; the site builds with `mkdocs build --strict`.

A shell or Python block in a page under docs/ (at column 0 or indented in a list item, fenced with ``` or ~~~)
carries a marker on the line before its fence:

    <!-- example: run -->                   run in the tests, in page order, in one scratch folder per page
    <!-- example: run, slow -->             the same, under the slow marker (a real sweep or endpoint)
    <!-- example: check-cli (REASON) -->    not run (it needs a cloud, a Docker engine, a GPU ...): every
                                            `cloudauto ...` line in it must name a command and options that exist
    <!-- example: skip (REASON) -->         not run (an install, a fragment of a script)

Runnable blocks run under `bash -euo pipefail` with inherit_errexit, `! cmd` (a command shown failing) checked; forms that would still hide a failing command
(`$(cloudauto ...)` inside another command, `&` without `wait PID`, subprocess.run without check=True) are refused.
Runnable blocks run offline on the local backend, with CLOUDAUTO_HOME in the scratch folder and a copy
of job_specs/ there, so a page may use `job_specs/iris.yaml` as the repository's root would.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
CODE = {"sh", "bash", "shell", "console", "python", "py"}
BLOCK = re.compile(  # at column 0 or indented (a list item's step), ``` or ~~~, as MkDocs renders them
    r"(?:^[ \t]*<!-- example: (?P<marker>[^>]*?) -->\n)?"
    r"^(?P<indent>[ \t]*)(?P<fence>```+|~~~+)(?P<lang>[\w-]*)[^\n]*\n(?P<body>.*?)^[ \t]*(?P=fence)[ \t]*$",
    re.S | re.M,
)
MARKER = re.compile(r"^(run(, slow)?|(check-cli|skip) \((?P<reason>.+)\))$")


def _dedent(body: str, indent: str) -> str:
    return "".join(line[len(indent) :] if line.startswith(indent) else line.lstrip(" \t") for line in body.splitlines(True))


def blocks(page: Path) -> list[tuple[int, str, str, str]]:
    """(line, language, marker or '', body) of every fenced block of a page."""
    text = page.read_text()
    found = []
    for m in BLOCK.finditer(text):
        line = text.count("\n", 0, m.start("fence")) + 1
        body = _dedent(m.group("body"), m.group("indent"))
        found.append((line, m.group("lang").lower(), (m.group("marker") or "").strip(), body))
    return found


def pages() -> list[Path]:
    """Every page of the site, and the README (its quick start is run like a tutorial)."""
    return [*sorted(p for p in DOCS.rglob("*.md")), ROOT / "README.md"]


def runnable(page: Path) -> list[tuple[int, str, str, str]]:
    return [b for b in blocks(page) if b[1] in CODE and b[2].startswith("run")]


def _name(page: Path) -> str:
    """A page as messages name it: its path in the repository (a scratch page's file name)."""
    return str(page.relative_to(ROOT)) if page.is_relative_to(ROOT) else page.name


def unmarked(page: Path) -> list[str]:
    """Code blocks of a page that neither run nor say why not."""
    return [
        f"{_name(page)}:{line}: {lang} block marked {marker!r}"
        for line, lang, marker, _ in blocks(page)
        if lang in CODE and not MARKER.match(marker)
    ]


def test_every_example_is_marked():
    found = [u for page in pages() for u in unmarked(page)]
    assert not found, "each example is run or says why not (see tests/test_docs.py):\n" + "\n".join(found)


_BACKGROUND = re.compile(r"(?<![&>|])&(?![&>])")  # `cmd &`, not `&&`, `2>&1`, `&>`, `|&`
_WAIT_PID = re.compile(r"^\s*wait\s+\S")
_SUBSTITUTION = re.compile(r"\$\(\s*cloudauto\b|`\s*cloudauto\b")
_ASSIGNMENT = re.compile(r"^\s*[A-Za-z_][A-Za-z0-9_]*=[\"']?(\$\(|`)")
# `export X=$(...)` (local, declare, readonly, typeset) returns the builtin's status, not the substitution's
_DECLARED = re.compile(r"^\s*(export|local|declare|readonly|typeset)\s+(-\w+\s+)*[A-Za-z_][A-Za-z0-9_]*=[\"']?(\$\(|`)")
# errexit ignores a command that is not the last of an && / || list, and any `|| ...` after cloudauto
_IN_LIST = re.compile(r"\bcloudauto\b(?:>&|[^;&|]|\|(?!\|))*(&&|\|\|)")
_CONDITION = re.compile(r"(^\s*|[;&|]\s*|\bthen\s+|\bdo\s+)(if|elif|while|until)\s+(!\s*)?cloudauto\b")


def hidden_failures(page: Path) -> list[str]:
    """Forms in a page's run blocks under which a failing command would not fail the block, even under
    `bash -euo pipefail`: a `$(cloudauto ...)` inside another command's arguments (echo, eval), a job sent to
    the background without a `wait PID` (a bare `wait` returns 0), `export X=$(...)`, cloudauto not last in an
    && / || list or in an if/while condition, a subprocess whose exit code is not checked (os.popen, getoutput)."""
    name = _name(page)
    found = []
    for line, lang, _, body in runnable(page):
        where = f"{name}:{line}"
        if lang in ("python", "py"):
            for call in re.finditer(r"subprocess\.run\((?:[^()]|\([^()]*\))*\)", body, re.S):
                if not re.search(r"check\s*=\s*True", call.group(0)):
                    found.append(f"{where}: subprocess.run without check=True: {call.group(0)[:60]}")
            calls = r"(subprocess\.call|subprocess\.Popen|subprocess\.getoutput|subprocess\.getstatusoutput|os\.system|os\.popen)\("
            for call in re.finditer(calls, body):
                found.append(f"{where}: {call.group(1)} does not fail on a failing command; use subprocess.run(..., check=True)")
            continue
        text = body.replace("\\\n", " ")
        lines = [raw.split(" #", 1)[0] for raw in text.splitlines() if not raw.lstrip().startswith("#")]
        for raw in lines:
            if _DECLARED.match(raw):
                found.append(f"{where}: export/local X=$(...) returns the builtin's status; assign first, then export: {raw.strip()[:60]}")
            elif _SUBSTITUTION.search(raw) and not _ASSIGNMENT.match(raw):
                found.append(f"{where}: $(cloudauto ...) inside another command hides its exit code: {raw.strip()[:60]}")
            if _CONDITION.search(raw):
                found.append(f"{where}: cloudauto as an if/while condition cannot fail the block: {raw.strip()[:60]}")
            elif _IN_LIST.search(raw):
                found.append(f"{where}: cloudauto before the end of an && / || list cannot fail the block: {raw.strip()[:60]}")
        background = sum(len(_BACKGROUND.findall(raw)) for raw in lines)
        waited = sum(1 for raw in lines if _WAIT_PID.match(raw))
        if background > waited:
            found.append(f"{where}: a job sent to the background (&) needs a `wait PID` (a bare `wait` returns 0)")
    return found


def test_no_example_hides_a_failure():
    found = [h for page in pages() for h in hidden_failures(page)]
    assert not found, "\n".join(found)


def _page_param(page: Path):
    slow = any(marker == "run, slow" for _, _, marker, _ in runnable(page))
    return pytest.param(page, id=str(page.relative_to(ROOT)), marks=[pytest.mark.slow] if slow else [])


def _expect_failures(body: str) -> str:
    """`! cmd` (a command the page shows failing) checked: bash's errexit ignores a negated command, so one that
    succeeded would pass unseen; here it stops the block."""
    lines = []
    for number, line in enumerate(body.splitlines(), 1):
        match = re.match(r"^(\s*)! (.+)$", line)
        if match:
            line = f"{match[1]}if {match[2]}\nthen echo 'line {number} was expected to fail: it succeeded' >&2; exit 1\nfi"
        lines.append(line)
    return "\n".join(lines) + "\n"


def run_examples(page: Path, scratch: Path) -> None:
    """Run a page's examples in order in `scratch`; an AssertionError names the first that fails (or hides a failure)."""
    hidden = hidden_failures(page)
    assert not hidden, "a form that hides a failure:\n" + "\n".join(hidden)
    scratch.mkdir(parents=True, exist_ok=True)
    shutil.copytree(ROOT / "job_specs", scratch / "job_specs", ignore=shutil.ignore_patterns("data", "__pycache__"))
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "AZURE", "SAGEMAKER_", "CLOUDAUTO_")) and k not in ("AZUREML_WORKSPACE_NAME",)
    }
    env.update(
        CLOUDAUTO_HOME=str(scratch / "home"),
        PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
        MPLBACKEND="Agg",
    )
    name = _name(page)
    for line, lang, _, body in runnable(page):
        where = f"{name}:{line}"
        if lang in ("python", "py"):
            script = scratch / f"example_{line}.py"
            script.write_text(body + "\n")
            argv = [sys.executable, str(script)]
        else:  # a failing command fails the block, in a pipe and in a $(...) too
            argv = ["bash", "-euo", "pipefail", "-c", "shopt -s inherit_errexit\n" + _expect_failures(body)]
        done = subprocess.run(argv, cwd=scratch, env=env, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, (
            f"{where} exited {done.returncode}\n--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-3000:]}"
        )


@pytest.mark.parametrize("page", [_page_param(p) for p in pages() if runnable(p)])
def test_the_examples_of_a_page_run(page, tmp_path):
    run_examples(page, tmp_path)


OPERATORS = {";", "&&", "||", "|", ">", ">>", "2>&1", "<"}


def _invocations(words: list[str]) -> list[list[str]]:
    found, i = [], 0
    while i < len(words):
        word = words[i]
        inner = re.search(r"\$\((cloudauto\s[^)]*)\)?", word)
        if inner:  # eval "$(cloudauto setup ...)"
            found += _invocations(inner.group(1).split())
        elif word == "cloudauto":
            args = []
            for w in words[i + 1 :]:
                if w in OPERATORS:
                    break
                if w.endswith(";"):
                    args.append(w[:-1])
                    break
                args.append(w)
            found.append(args)
        i += 1
    return found


def _command_lines(body: str) -> list[list[str]]:
    """The `cloudauto ...` invocations of a shell block (continuations joined, comments left out)."""
    found = []
    for raw in body.replace("\\\n", " ").splitlines():
        try:
            words = shlex.split(raw, comments=True)
        except ValueError:  # an unclosed quote: a heredoc's line
            words = raw.split("#", 1)[0].split()
        found += _invocations(words)
    return found


def _parse(args: list[str]) -> str | None:
    """None if `cloudauto ARGS` names a command and options that exist, else why not."""
    from cloudauto.cli import main

    command, path = main, ["cloudauto"]
    parent = click.Context(main, info_name="cloudauto")
    while isinstance(command, click.Group):
        if not args or args[0].startswith("-"):
            return None if args[:1] in (["--help"], ["-h"], ["--version"]) else "no command"
        sub = command.commands.get(args[0])
        if sub is None:
            return f"no command '{args[0]}' in {' '.join(path)}"
        path.append(args.pop(0))
        parent = click.Context(sub, info_name=path[-1], parent=parent)
        command = sub
    names = {opt for p in command.params for opt in [*getattr(p, "opts", []), *getattr(p, "secondary_opts", [])]}
    for word in args:
        option = word.split("=", 1)[0]
        if option.startswith("--") and option not in names:
            return f"{' '.join(path)} has no option {option}"
        if re.fullmatch(r"-[a-zA-Z]", option) and option not in names:
            return f"{' '.join(path)} has no option {option}"
    return None


def test_every_command_in_the_docs_exists():
    wrong = []
    for page in pages():
        for line, lang, marker, body in blocks(page):
            if lang not in CODE - {"python", "py"} or marker.startswith("skip"):
                continue
            for args in _command_lines(body):
                why = _parse(list(args))
                if why:
                    wrong.append(f"{page.relative_to(ROOT)}:{line}: cloudauto {' '.join(args)}: {why}")
    assert not wrong, "\n".join(wrong)


def test_the_command_checker_catches_a_wrong_command():
    assert _parse(["run", "x.yaml", "--set", "a=1"]) is None
    assert _parse(["prices", "update", "--backend", "sagemaker"]) is None
    assert _parse(["deploy", "JOB", "--nme", "x"]) == "cloudauto deploy has no option --nme"
    assert _parse(["sumbit", "x.yaml"]) == "no command 'sumbit' in cloudauto"
    assert _command_lines('eval "$(cloudauto setup sagemaker --region us-east-1)"   # a bucket') == [
        ["setup", "sagemaker", "--region", "us-east-1"]
    ]


def test_every_exit_code_is_in_the_table():
    """The CLI reference's exit-code table (cloudauto/cli/exit_codes.py) names every code the code raises."""
    from cloudauto.cli.exit_codes import EXIT_CODES

    from .test_cli import EXIT_CASES

    raised = set()
    for path in [*ROOT.glob("cloudauto/**/*.py"), *ROOT.glob("backends/*/cloudauto_*/**/*.py")]:
        raised |= {int(n) for n in re.findall(r"\bexit_code = (\d+)", path.read_text())}
        raised |= {int(n) for n in re.findall(r"\bsys\.exit\((\d+)\)", path.read_text())}
    expected = {code for _, code in EXIT_CASES.values()}
    assert raised and expected
    assert raised | expected <= set(EXIT_CODES), sorted((raised | expected) - set(EXIT_CODES))


def test_the_generated_reference_covers_the_code(tmp_path):
    """Every command, option and spec field is on the generated pages (the generator walks them all)."""
    sys.path.insert(0, str(DOCS))
    try:
        import gen_reference
    finally:
        sys.path.remove(str(DOCS))
    from cloudauto.cli import main
    from cloudauto.schema import json_schema

    cli = gen_reference.cli()
    for name, command in main.commands.items():
        assert f"`cloudauto {name}`" in cli
        for param in command.params:
            for opt in getattr(param, "opts", []):
                if opt.startswith("-"):
                    assert f"`{opt}`" in cli, (name, opt)
    fields = gen_reference.spec_fields()
    for name, prop in json_schema()["$defs"]["Limits"]["properties"].items():
        assert f"`limits.{name}`" in fields
        if "description" in prop:
            assert prop["description"] in fields
    support = gen_reference.backend_support()
    assert "| bayesian sampling with a policy |" in support and "**refused**" in support


def test_the_readme_links_to_files_that_exist():
    """mkdocs checks the site's links; the README is read on GitHub, outside the site, so its links are checked here."""
    text = (ROOT / "README.md").read_text()
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    local = [link for link in links if "://" not in link]
    assert local, "the README links into the docs"
    missing = [link for link in local if not (ROOT / link).exists()]
    assert not missing, missing
    assert len(text.splitlines()) < 200, "the README is the front door: under 200 lines"


@pytest.mark.skipif(importlib.util.find_spec("mkdocs") is None, reason="mkdocs is not installed (make test installs it: .[dev])")
def test_the_site_builds_strict(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1", "DISABLE_MKDOCS_2_WARNING": "true"},  # as make docs
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-5000:]
    for page in ("reference/cli/index.html", "reference/spec-fields/index.html", "tutorials/own-csv/index.html"):
        assert (tmp_path / "site" / page).is_file(), page


SCRATCH_PAGE = """\
# A page that hides failures

1. Validate:

    <!-- example: run -->
    ```bash
    cloudauto validate no_such_file.yaml
    ```

2. Unmarked, indented:

    ```bash
    cloudauto validate no_such_file.yaml
    ```

~~~bash
cloudauto validate also_missing.yaml
~~~
"""


def test_the_page_reader_sees_indented_and_tilde_fences(tmp_path):
    page = tmp_path / "zz.md"
    page.write_text(SCRATCH_PAGE)
    found = blocks(page)
    assert [(line, lang, marker) for line, lang, marker, _ in found] == [(6, "bash", "run"), (12, "bash", ""), (16, "bash", "")]
    assert found[0][3] == "cloudauto validate no_such_file.yaml\n"  # the list item's indent is not the command's


HIDING_PAGE = """\
<!-- example: run -->
```bash
echo "validated: $(cloudauto validate missing2.yaml)"
```

<!-- example: run -->
```bash
cloudauto validate missing3.yaml &
wait
```

<!-- example: run -->
```python
import subprocess
subprocess.run(["cloudauto", "validate", "missing4.yaml"])
```
"""

HONEST_PAGE = """\
<!-- example: run -->
```bash
said=$(cloudauto validate job_specs/iris.yaml)
echo "$said"
cloudauto validate job_specs/iris.yaml &
pid=$!
wait "$pid"
```

<!-- example: run -->
```python
import subprocess
subprocess.run(["cloudauto", "validate", "job_specs/iris.yaml"], check=True)
```
"""


def test_the_runner_fails_a_page_whose_list_item_command_fails(tmp_path):
    page = tmp_path / "zz.md"
    page.write_text(SCRATCH_PAGE)
    with pytest.raises(AssertionError, match=r"zz.md:6 exited 1"):
        run_examples(page, tmp_path / "run")
    assert [u.split(": ", 1)[1] for u in unmarked(page)] == ["bash block marked ''"] * 2
    negated = tmp_path / "neg.md"  # a command the page says fails, which succeeds
    negated.write_text("<!-- example: run -->\n```bash\n! cloudauto validate job_specs/iris.yaml   # exit 1\necho after\n```\n")
    with pytest.raises(AssertionError, match="line 1 was expected to fail"):
        run_examples(negated, tmp_path / "run-neg")


def test_forms_that_hide_a_failure_are_refused_and_honest_ones_run(tmp_path):
    page = tmp_path / "zz.md"
    page.write_text(HIDING_PAGE)
    problems = hidden_failures(page)
    assert len(problems) == 3, problems
    assert "zz.md:2: $(cloudauto ...) inside another command hides its exit code" in problems[0]
    assert "zz.md:7: a job sent to the background (&) needs a `wait PID`" in problems[1]
    assert "zz.md:13: subprocess.run without check=True" in problems[2]
    with pytest.raises(AssertionError, match="hides a failure"):
        run_examples(page, tmp_path / "run")
    honest = tmp_path / "ok.md"
    honest.write_text(HONEST_PAGE)
    assert hidden_failures(honest) == []
    run_examples(honest, tmp_path / "run2")


LIST_AND_CONDITION_PAGE = """\
<!-- example: run -->
```bash
cloudauto validate missing1.yaml && echo validated
export JOB=$(cloudauto validate missing2.yaml)
if cloudauto validate missing3.yaml; then echo ok; fi
cloudauto validate missing4.yaml || echo "see above"
local J=$(cloudauto status latest)
while ! cloudauto status latest; do sleep 1; done
cloudauto validate missing5.yaml 2>&1 | tee out.txt && echo done
  if cloudauto validate missing8.yaml; then echo ok; fi
```

<!-- example: run -->
```python
import os, subprocess
print(os.popen("cloudauto validate missing6.yaml").read())
print(subprocess.getoutput("cloudauto validate missing7.yaml"))
```
"""


def test_and_or_lists_conditions_and_export_substitutions_are_refused(tmp_path):
    """errexit ignores a command not last in an && / || list or in an if/while condition, and `export X=$(...)`
    returns export's status: a failing cloudauto there passed the block (the s4 re-attack's R8)."""
    page = tmp_path / "zz.md"
    page.write_text(LIST_AND_CONDITION_PAGE)
    problems = hidden_failures(page)
    assert len(problems) == 10, "\n".join(problems)
    for said in ("&& / || list", "export", "condition", "os.popen", "subprocess.getoutput"):
        assert any(said in p for p in problems), (said, problems)
    honest = tmp_path / "ok.md"
    honest.write_text(
        "<!-- example: run -->\n```bash\ntest -f x.yaml || cloudauto validate job_specs/iris.yaml\n"
        "cd . && cloudauto validate job_specs/iris.yaml\nJOB=$(cloudauto validate job_specs/iris.yaml)\nexport JOB\n"
        "if [ -n \"$JOB\" ]; then echo \"$JOB\"; fi\n! cloudauto validate missing.yaml\n```\n"
    )
    assert hidden_failures(honest) == []
    run_examples(honest, tmp_path / "run")
