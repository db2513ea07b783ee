"""What a command job's code snapshot ships: the user's code, never cloudauto's own compile outputs or junk."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

import cloudauto

SPEC = """\
name: snap
task: custom
engine: command
metric: {name: acc, goal: maximize}
command: {run: 'python train.py --lr ${{sweep.lr}}', code: ., environment: env.yml}
sweep:
  space: {lr: {uniform: [0.01, 0.1]}}
"""
ENV = "name: x\ndependencies:\n  - python=3.11\n  - pip:\n      - mlflow\n      - azureml-mlflow\n"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A script's folder, as own-script.md has it: the spec beside train.py, `code: .`."""
    (tmp_path / "train.py").write_text("print('train')\n")
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "util.py").write_text("X = 1\n")
    (tmp_path / "env.yml").write_text(ENV)
    (tmp_path / "spec.yaml").write_text(SPEC)
    return tmp_path


def _compile(folder: Path, backend: str, out: Path) -> cloudauto.CompiledJob:
    job = cloudauto.compile(cloudauto.JobSpec.from_file(folder / "spec.yaml"), backend=backend)
    job.write(out)
    return job


def _user_files(code: Path) -> set[str]:
    """The snapshot's files beside cloudauto's own package."""
    return {p.relative_to(code).as_posix() for p in code.rglob("*") if p.is_file() and "cloudauto" not in p.parts}


def _tarball_names(folder: Path) -> set[str]:
    from cloudauto_sagemaker.compile import source_tarball

    data = source_tarball(cloudauto.JobSpec.from_file(folder / "spec.yaml"))
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {n for n in tar.getnames() if n.startswith("code/")}


def test_compiling_twice_in_the_scripts_folder_does_not_ship_the_first_compiles_output(folder):
    _compile(folder, "azureml", folder / "az")
    _compile(folder, "sagemaker", folder / "sm")
    _compile(folder, "azureml", folder / "az2")
    wanted = {"train.py", "lib/util.py", "env.yml", "spec.yaml"}
    assert _user_files(folder / "az" / "snap.code") == wanted
    assert _user_files(folder / "az2" / "snap.code") == wanted  # not az/, not sm/
    assert _tarball_names(folder) == {f"code/{n}" for n in wanted}  # SageMaker's tarball: the same files
    # compiled into the script's own folder (-o .), twice: its yml and .code folder stay out of the next one
    _compile(folder, "azureml", folder)
    _compile(folder, "azureml", folder)
    assert _user_files(folder / "snap.code") == wanted
    assert (folder / "snap.job.yml").is_file()


def test_junk_and_the_ignore_file_stay_out(folder):
    for junk in ["__pycache__/train.cpython-311.pyc", ".git/HEAD", ".venv/bin/python", "lib/old.pyc", ".ipynb_checkpoints/a.py"]:
        (folder / junk).parent.mkdir(parents=True, exist_ok=True)
        (folder / junk).write_text("x")
    for kept in ["data/big.csv", "data/keep.csv", "notes.md", "runs/1/model.bin"]:
        (folder / kept).parent.mkdir(parents=True, exist_ok=True)
        (folder / kept).write_text("x")
    (folder / ".gitignore").write_text("notes.md\n")  # a .cloudautoignore wins over .gitignore, as .amlignore does on Azure
    (folder / ".cloudautoignore").write_text("# data travels as data\ndata/*.csv\n!data/keep.csv\nruns/\n")
    _compile(folder, "azureml", folder / "az")
    kept = {"train.py", "lib/util.py", "env.yml", "spec.yaml", "notes.md", "data/keep.csv"}
    assert _user_files(folder / "az" / "snap.code") == kept
    (folder / ".cloudautoignore").unlink()  # then .gitignore is the one read
    _compile(folder, "azureml", folder / "az")
    assert "notes.md" not in _user_files(folder / "az" / "snap.code")
    assert "runs/1/model.bin" in _user_files(folder / "az" / "snap.code")


@pytest.mark.parametrize(
    ("write", "named"),
    [
        ({".cloudautoignore": "# mine\ntrain.py\n"}, ".cloudautoignore:2 (train.py)"),
        ({".gitignore": "**\n"}, ".gitignore:1 (**)"),
        ({".cloudauto-compiled": "train.py\n../\n/etc\n"}, ".cloudauto-compiled"),
    ],
)
@pytest.mark.parametrize("backend", ["azureml", "sagemaker"])
def test_a_snapshot_that_leaves_out_the_run_lines_script_is_refused_naming_why(folder, backend, write, named):
    from ..test_cli import run

    for name, text in write.items():
        (folder / name).write_text(text)
    result = run("compile", "-b", backend, str(folder / "spec.yaml"), "-o", str(folder / "out"))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "train.py" in result.stderr and named in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert not (folder / "out").exists()


@pytest.mark.parametrize("backend", ["azureml", "sagemaker"])
def test_a_file_linked_from_outside_the_code_folder_is_refused_naming_it(folder, tmp_path_factory, backend):
    from ..test_cli import run

    secret = tmp_path_factory.mktemp("elsewhere") / "credentials"
    secret.write_text("SECRET-BYTES\n")
    (folder / "lib" / "leak").symlink_to(secret)
    (folder / "inside").symlink_to(folder / "lib" / "util.py")  # a link that stays in the folder ships as before
    result = run("compile", "-b", backend, str(folder / "spec.yaml"), "-o", str(folder / "out"))
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"{folder / 'lib' / 'leak'}" in result.stderr and str(secret) in result.stderr, result.stderr
    assert not (folder / "out").exists()
    (folder / "lib" / "leak").unlink()
    _compile(folder, "azureml", folder / "az")
    assert (folder / "az" / "snap.code" / "inside").read_text() == "X = 1\n"


def test_a_compile_into_the_code_folder_while_another_writes_there_does_not_ship_the_others_output(folder):
    """Two `compile -o .` at once in the scripts' folder: one's snapshot never holds the other's output."""
    import subprocess
    import sys

    (folder / "spec2.yaml").write_text(SPEC.replace("name: snap", "name: other"))
    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import pathlib, time, cloudauto\n"
            "orig, said = pathlib.Path.replace, []\n"
            "def slow(self, target):\n"
            "    out = orig(self, target)\n"
            "    if not said:\n"
            "        said.append(1); print('mid', flush=True); time.sleep(3)\n"
            "    return out\n"
            "pathlib.Path.replace = slow\n"
            f"job = cloudauto.compile(cloudauto.JobSpec.from_file({str(folder / 'spec2.yaml')!r}), backend='azureml')\n"
            f"job.write(pathlib.Path({str(folder)!r}))\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout.readline().strip() == "mid"
        _compile(folder, "azureml", folder / "az")
    finally:
        assert writer.wait(timeout=60) == 0
    shipped = _user_files(folder / "az" / "snap.code")
    assert shipped == {"train.py", "lib/util.py", "env.yml", "spec.yaml", "spec2.yaml"}, shipped


def _write(folder: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)


def test_nested_ignore_files_apply_under_their_folder_and_env_files_stay_out(folder):
    """A sub/.gitignore naming secret.env left it shipped (only the top folder's ignore file was read); .env shipped."""
    _write(
        folder,
        {
            ".gitignore": "*.log\n*.csv\n",
            "sub/.gitignore": "secret.env\n/anchored.txt\n!keep.csv\n",
            "sub/secret.env": "KEY=1\n",
            "sub/anchored.txt": "x",
            "sub/deeper/anchored.txt": "x",  # /anchored.txt is anchored at sub/, as git reads it
            "sub/keep.csv": "x",  # a deeper file's rule wins over the top one's
            "sub/other.csv": "x",
            "sub/run.log": "x",  # the top file's rules apply below too
            "sub/x.py": "print(1)\n",
            "both/.cloudautoignore": "a.txt\n",  # in one folder, the first of the ignore files found is read
            "both/.gitignore": "b.txt\n",
            "both/a.txt": "x",
            "both/b.txt": "x",
            ".env": "TOKEN=secret\n",
            "sub/.env": "TOKEN=secret\n",
            "sub/.env.local": "TOKEN=secret\n",
        },
    )
    wanted = {"train.py", "lib/util.py", "env.yml", "spec.yaml", "sub/deeper/anchored.txt", "sub/keep.csv", "sub/x.py", "both/b.txt"}
    _compile(folder, "azureml", folder / "az")
    assert _user_files(folder / "az" / "snap.code") == wanted
    assert _tarball_names(folder) == {f"code/{n}" for n in wanted}


def test_env_contents_stay_home_under_another_name(folder):
    """A link settings.txt -> .env (or to sub/.env.local) shipped the .env bytes under the link's name; files in a
    .env.d/ folder shipped; prod.env and .envrc (direnv) shipped too."""
    _write(
        folder,
        {
            ".env": "S=.env\n",
            "sub/.env.local": "S=sub/.env.local\n",
            ".env.d/keys": "S=.env.d\n",
            "prod.env": "S=prod.env\n",
            ".envrc": "export S=envrc\n",
            "plain.txt": "not a secret\n",
        },
    )
    (folder / "settings.txt").symlink_to(".env")
    (folder / "lnk").symlink_to("sub/.env.local")
    (folder / "keys.txt").symlink_to(".env.d/keys")
    (folder / "plain-link.txt").symlink_to("plain.txt")  # a link to a file that ships still ships
    wanted = {"train.py", "lib/util.py", "env.yml", "spec.yaml", "plain.txt", "plain-link.txt"}
    _compile(folder, "azureml", folder / "az")
    assert _user_files(folder / "az" / "snap.code") == wanted
    assert _tarball_names(folder) == {f"code/{n}" for n in wanted}


def test_a_link_to_a_file_an_ignore_rule_leaves_out_ships_nothing(folder):
    """`secrets.json` in .gitignore, and a link `config.json -> secrets.json` (or into an ignored folder, or a link to
    that link, or a link to the compile marker): the link shipped the ignored file's bytes under its own name."""
    _write(
        folder,
        {
            ".gitignore": "secrets.json\nprivate/\n",
            "secrets.json": '{"key": "s3cr3t"}\n',
            "private/token": "s3cr3t\n",
            "sub/.gitignore": "local.cfg\n",
            "sub/local.cfg": "s3cr3t\n",
            "plain.txt": "not a secret\n",
        },
    )
    (folder / "config.json").symlink_to("secrets.json")
    (folder / "token").symlink_to("private/token")
    (folder / "chain").symlink_to("config.json")  # a link to the link
    (folder / "cfg").symlink_to("sub/local.cfg")  # left out by a nested ignore file
    (folder / "plain-link.txt").symlink_to("plain.txt")
    wanted = {"train.py", "lib/util.py", "env.yml", "spec.yaml", "plain.txt", "plain-link.txt"}
    _compile(folder, "azureml", folder / "az")
    assert _user_files(folder / "az" / "snap.code") == wanted
    assert _tarball_names(folder) == {f"code/{n}" for n in wanted}
    shipped = b"".join(p.read_bytes() for p in (folder / "az" / "snap.code").rglob("*") if p.is_file())
    assert b"s3cr3t" not in shipped


def test_a_run_line_script_that_links_to_a_left_out_file_says_so(folder):
    from ..test_cli import run

    _write(folder, {".gitignore": "real.py\n", "real.py": "print(1)\n"})
    (folder / "go.py").symlink_to("real.py")
    (folder / "spec.yaml").write_text(SPEC.replace("python train.py", "python go.py"))
    result = run("compile", "-b", "azureml", str(folder / "spec.yaml"), "-o", str(folder / "out"))
    assert result.returncode == 2, result.stderr
    assert f"{folder / '.gitignore'}:1 (real.py) ignores it" in result.stderr, result.stderr


def test_a_private_folder_of_the_code_is_not_written_open(folder):
    """A 0700 code folder with a 0700 private/ holding a 0644 creds.ini came out as 0755 folders: any local user
    could read the file. Each written folder is no more open than its source folder."""
    _write(folder, {"private/creds.ini": "key=1\n"})
    (folder / "private").chmod(0o700)
    folder.chmod(0o700)
    try:
        _compile(folder, "azureml", folder / "az")
        code = folder / "az" / "snap.code"
        assert code.stat().st_mode & 0o777 == 0o700
        assert (code / "private").stat().st_mode & 0o777 == 0o700
        assert (code / "lib").stat().st_mode & 0o077 == (folder / "lib").stat().st_mode & 0o055
    finally:
        folder.chmod(0o755)


def test_a_run_dir_that_is_the_code_folder_leaves_out_its_jobs_not_the_code(folder):
    """`backends.local.run_dir: .` with `command.code: .` left the whole snapshot out ("train.py ... is not a regular
    file"): the code ships, the job folders in it do not."""
    (folder / "spec.yaml").write_text((folder / "spec.yaml").read_text() + "backends:\n  local: {run_dir: .}\n")
    job = folder / "snap-20261205-000000-abcd"
    job.mkdir()
    (job / ".cloudauto-run").write_text("")
    (job / "run.db").write_text("x")
    _compile(folder, "azureml", folder / "az")
    shipped = _user_files(folder / "az" / "snap.code")
    assert "train.py" in shipped and not any(name.startswith("snap-2026") for name in shipped)


def test_a_run_line_script_left_out_by_a_nested_ignore_file_names_that_file_and_line(folder):
    from ..test_cli import run

    _write(folder, {"sub/x.py": "print(1)\n", "sub/.gitignore": "# mine\nx.py\n"})
    (folder / "spec.yaml").write_text(SPEC.replace("python train.py", "python sub/x.py"))
    result = run("compile", "-b", "azureml", str(folder / "spec.yaml"), "-o", str(folder / "out"))
    assert result.returncode == 2, result.stderr
    assert f"{folder / 'sub' / '.gitignore'}:2 (x.py) ignores it" in result.stderr, result.stderr


def test_a_folder_rule_that_leaves_out_the_run_lines_script_advises_what_gitignore_can_re_include(folder):
    """`sub/` in the ignore file: the advice was `add !sub/x.py below it`, which gitignore cannot do (the folder is left
    out whole), and once added the `!sub/x.py` line itself was blamed with the same advice."""
    from ..test_cli import run

    _write(folder, {"sub/x.py": "print(1)\n", "sub/y.py": "print(2)\n"})
    (folder / "spec.yaml").write_text(SPEC.replace("python train.py", "python sub/x.py"))
    for text in ("sub/\n", "sub/\n!sub/x.py\n"):
        (folder / ".cloudautoignore").write_text(text)
        result = run("compile", "-b", "azureml", str(folder / "spec.yaml"), "-o", str(folder / "out"))
        assert result.returncode == 2, result.stderr
        assert f"{folder / '.cloudautoignore'}:1 (sub/) leaves out the folder sub/" in result.stderr, result.stderr
        assert "`sub/*`" in result.stderr and "`!sub/x.py`" in result.stderr, result.stderr
        assert ":2 (" not in result.stderr and "add !sub/x.py below it" not in result.stderr
    (folder / ".cloudautoignore").write_text("sub/*\n!sub/x.py\n")  # the advice, followed, works
    _compile(folder, "azureml", folder / "az")
    assert {"sub/x.py"} == {n for n in _user_files(folder / "az" / "snap.code") if n.startswith("sub/")}


def test_a_script_deep_in_a_left_out_folder_gets_every_line_it_needs(folder):
    from ..test_cli import run

    _write(folder, {"a/b/x.py": "print(1)\n"})
    (folder / "spec.yaml").write_text(SPEC.replace("python train.py", "python a/b/x.py"))
    (folder / ".gitignore").write_text("a\n")
    result = run("compile", "-b", "sagemaker", str(folder / "spec.yaml"), "-o", str(folder / "out"))
    assert result.returncode == 2, result.stderr
    assert "(a) leaves out the folder a/" in result.stderr, result.stderr
    assert "`a/*`, `!a/b/`, `a/b/*`, `!a/b/x.py`" in result.stderr, result.stderr
    (folder / ".gitignore").write_text("a/*\n!a/b/\na/b/*\n!a/b/x.py\n")
    assert "code/a/b/x.py" in _tarball_names(folder)


def _member_modes(folder: Path) -> dict[str, int]:
    from cloudauto_sagemaker.compile import source_tarball

    data = source_tarball(cloudauto.JobSpec.from_file(folder / "spec.yaml"))
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name: m.mode for m in tar.getmembers() if m.name.startswith("code/")}


def test_local_jobs_in_the_code_folder_stay_home(folder):
    """docs/spec.md's layout: `code: .` and `run_dir: ./runs`; the jobs there (and one another spec put elsewhere in
    the folder) hold run.db, logs, models: private, never shipped."""
    from cloudauto_local.store import RunStore

    (folder / "spec.yaml").write_text(SPEC + "backends:\n  local: {run_dir: ./runs}\n")
    RunStore.create(folder / "runs" / "snap-1", "snap-1", "{}", str(folder))
    (folder / "runs" / "standby.log").write_text("the run_dir's own file\n")
    RunStore.create(folder / "other_runs" / "job-2", "job-2", "{}", str(folder))
    (folder / "other_runs" / "job-2" / "trial.log").write_text("a trial's log\n")
    (folder / "other_runs" / "notes.py").write_text("# beside the jobs: the user's\n")
    _compile(folder, "azureml", folder / "az")
    wanted = {"train.py", "lib/util.py", "env.yml", "spec.yaml", "other_runs/notes.py"}
    assert _user_files(folder / "az" / "snap.code") == wanted
    assert _tarball_names(folder) == {f"code/{n}" for n in wanted}


def test_a_job_folder_from_before_the_marker_stays_home(folder):
    import sqlite3

    job = folder / "runs" / "old-job"
    job.mkdir(parents=True)
    sqlite3.connect(job / "run.db").execute("CREATE TABLE job (id TEXT)")
    (job / "orchestrator.log").write_text("log\n")
    (folder / "data").mkdir()
    (folder / "data" / "run.db").write_text("a user's file of that name ships\n")
    _compile(folder, "azureml", folder / "az")
    assert _user_files(folder / "az" / "snap.code") == {"train.py", "lib/util.py", "env.yml", "spec.yaml", "data/run.db"}


def test_a_private_file_is_written_no_more_readable_than_it_is(folder):
    (folder / "train.py").chmod(0o600)
    (folder / "run.sh").write_text("#!/bin/sh\n")
    (folder / "run.sh").chmod(0o700)
    (folder / "lib" / "open.py").write_text("Y = 2\n")
    (folder / "lib" / "open.py").chmod(0o666)
    (folder / "priv.py").symlink_to("train.py")
    _compile(folder, "azureml", folder / "az")
    code = folder / "az" / "snap.code"
    modes = {name: (code / name).stat().st_mode & 0o777 for name in ("train.py", "run.sh", "lib/util.py", "lib/open.py", "priv.py")}
    assert modes == {"train.py": 0o600, "run.sh": 0o700, "lib/util.py": 0o644, "lib/open.py": 0o644, "priv.py": 0o600}
    members = _member_modes(folder)
    assert {n: members[f"code/{n}"] for n in modes} == modes


def test_the_code_limit_is_checked_before_any_file_is_read_and_names_the_biggest(folder):
    import tracemalloc

    from cloudauto.runtime.bundle import MAX_CODE_BYTES, BundleError, code_files

    with open(folder / "big.bin", "wb") as big:
        big.truncate(MAX_CODE_BYTES + 2**20)  # sparse: no disk, but reading it takes its size in memory
    tracemalloc.start()
    try:
        with pytest.raises(BundleError, match=r"big\.bin \(201 MB\)"):
            code_files(folder, run="python train.py")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2**20, peak


def test_a_link_ships_the_bytes_read_for_its_file_even_when_retargeted_meanwhile(folder, monkeypatch):
    """A link pointed at .env right after the snapshot looked where it points (twice: train.py) ships train.py's bytes,
    never .env's."""
    from cloudauto.runtime.bundle import code_files

    (folder / ".env").write_text("SECRET_RACE\n")
    link = folder / "l.py"
    link.symlink_to("train.py")
    resolve, seen = Path.resolve, []

    def flipping(self, strict=False):
        out = resolve(self, strict)
        if self.name == "l.py":
            seen.append(out)
            link.unlink()
            link.symlink_to("train.py" if len(seen) % 2 else ".env")
        return out

    monkeypatch.setattr(Path, "resolve", flipping)
    shipped = [code_files(folder, prefix="").get("l.py") for _ in range(4)]
    assert b"print('train')\n" in shipped and set(shipped) <= {b"print('train')\n", None}, shipped


def test_a_file_gone_while_the_snapshot_walks_is_left_out(folder, monkeypatch):
    import os

    from cloudauto.runtime import bundle

    (folder / "lib" / "gone.py").write_text("G = 1\n")
    (folder / "lib" / "to_gone").symlink_to("gone.py")
    (folder / "lib" / "gone_first.py").write_text("F = 1\n")
    walk, is_file = os.walk, Path.is_file

    def vanishing(top, *args, **kwargs):  # listed, then removed before it is looked at
        for here, dirs, names in walk(top, *args, **kwargs):
            if Path(here).name == "lib":
                (Path(here) / "gone_first.py").unlink()
            yield here, dirs, names

    def looked_at_then_gone(self):  # removed right after it is looked at
        out = is_file(self)
        if self.name == "gone.py" and out:
            self.unlink()
        return out

    monkeypatch.setattr(bundle.os, "walk", vanishing)
    monkeypatch.setattr(Path, "is_file", looked_at_then_gone)
    files = bundle.code_files(folder, prefix="")
    assert set(files) == {"train.py", "lib/util.py", "env.yml", "spec.yaml"}


def _alarm(seconds: int):
    import signal

    def hung(*_):
        raise AssertionError(f"still waiting after {seconds}s")

    signal.signal(signal.SIGALRM, hung)
    signal.alarm(seconds)


def test_a_named_pipe_called_like_the_compile_marker_is_not_waited_on(folder):
    import os
    import signal

    (folder / "sub").mkdir()
    os.mkfifo(folder / "sub" / ".cloudauto-compiled")
    os.mkfifo(folder / "sub" / "pipe.py")
    _alarm(20)
    try:
        _compile(folder, "azureml", folder / "az")
    finally:
        signal.alarm(0)
    assert _user_files(folder / "az" / "snap.code") == {"train.py", "lib/util.py", "env.yml", "spec.yaml"}


def test_a_folder_called_like_the_compile_marker_is_refused_nothing_written(folder):
    from ..test_cli import run

    (folder / "o" / ".cloudauto-compiled").mkdir(parents=True)
    result = run("compile", "-b", "azureml", str(folder / "spec.yaml"), "-o", str(folder / "o"))
    assert result.returncode == 64, result.stdout + result.stderr
    assert f"{folder / 'o' / '.cloudauto-compiled'}: not a file" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert sorted(p.name for p in (folder / "o").iterdir()) == [".cloudauto-compiled"]


def test_a_marker_write_cut_short_never_ships_and_the_next_compile_removes_it(folder):
    left = folder / ".cloudauto-compiled.4242.tmp"
    left.write_text("# written by `cloudauto compile -o`\nsnap.code\n")
    _compile(folder, "azureml", folder / "az")
    assert _user_files(folder / "az" / "snap.code") == {"train.py", "lib/util.py", "env.yml", "spec.yaml"}
    _compile(folder, "azureml", folder)
    assert not left.exists()
    assert [p.name for p in folder.glob(".cloudauto-compiled*")] == [".cloudauto-compiled"]
