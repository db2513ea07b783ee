"""Local jobs to manage (issue 32 item 7): runs with dates and JSON, delete, prune, `latest` as a job id."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ..test_cli import run

SPEC = {
    "name": "iris",
    "task": "tabular_classification",
    "data": {"train": "/nowhere/train.csv", "label": "y"},
    "metric": "accuracy",
}


def make_job(runs: Path, name: str, *, created: float, status: str = "completed", objective=None, mb: float = 1.0, where=None):
    """A job's store as the scheduler leaves it: a finished trial with a model folder of `mb` megabytes."""
    from cloudauto_local.store import RunStore

    from cloudauto.backend import TrialStatus

    job_id = f"{name}-{time.strftime('%Y%m%d-%H%M%S', time.localtime(created))}-{os.urandom(2).hex()}"
    folder = (where or runs) / job_id
    store = RunStore.create(folder, job_id, json.dumps({**SPEC, "name": name}), None)
    store.add_trial(0, {"models": "GBM"}, {})
    model = folder / "trials" / "0" / "model"
    model.mkdir(parents=True)
    (model / "weights.bin").write_bytes(b"\0" * int(mb * 1_000_000))
    store.start_trial(0, 1, str(folder / "trials" / "0"))
    store.finish_trial(0, TrialStatus.COMPLETED, objective=objective)
    store.set_job(status=status, created=created, ended=created + 60 if status != "running" else None)
    if where is not None:
        runs.mkdir(parents=True, exist_ok=True)
        (runs / job_id).symlink_to(folder, target_is_directory=True)
    return job_id


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    return run(*args, env={"CLOUDAUTO_HOME": str(home), "CLOUDAUTO_BACKEND": ""})


@pytest.fixture
def sleeper():
    """A live process, recorded as a job's scheduler or an endpoint's deploy (pid and start time, as the real ones are)."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield proc
    proc.kill()
    proc.wait()


def own(job_dir: Path, pid: int) -> None:
    from cloudauto_local.store import RunStore, boot_id, process_start

    RunStore(job_dir).set_job(
        status="running", orchestrator_pid=pid, orchestrator_start=process_start(pid), orchestrator_boot=boot_id()
    )


def home_files_naming(home: Path, job_id: str) -> list[str]:
    """Every file left in the home that names the job (read, not just listed)."""
    found = []
    for path in home.rglob("*"):
        if path.is_file() and job_id.encode() in path.read_bytes():
            found.append(str(path.relative_to(home)))
        elif job_id in path.name:
            found.append(str(path.relative_to(home)))
    return found


def test_runs_has_a_header_dates_and_json(home: Path):
    day = time.mktime((2026, 3, 1, 9, 30, 0, 0, 0, -1))
    job = make_job(home / "runs", "iris", created=day, objective=0.93)
    text = cli(home, "runs")
    assert text.returncode == 0, text.stderr
    header, line = text.stdout.splitlines()
    assert header.split("\t") == ["JOB", "STATUS", "TRIALS", "BEST", "SUBMITTED"]
    assert line.split("\t") == [job, "completed", "1/1 trials", "best accuracy=0.93", "2026-03-01 09:30"]
    (row,) = json.loads(cli(home, "runs", "--format", "json").stdout)
    assert row["id"] == job and row["best"] == 0.93 and row["spec"] == "iris" and row["created"] == day
    assert row["created_at"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(day))


def test_latest_is_the_newest_job_or_the_newest_of_a_spec(home: Path):
    now = time.time()
    newest_iris = make_job(home / "runs", "iris", created=now - 100, objective=0.9)
    old_iris = make_job(home / "runs", "iris", created=now - 5000)
    newest = make_job(home / "runs", "bikes", created=now - 10)
    os.utime(home / "runs" / old_iris / "run.db")  # written last: the listing's order is not the submit order
    assert cli(home, "status", "latest").stdout.startswith(newest)
    assert cli(home, "status", "iris@latest").stdout.startswith(newest_iris)
    assert json.loads(cli(home, "best", "iris@latest").stdout)["trial"] == 0
    wrong = cli(home, "status", "irsi@latest")
    assert wrong.returncode == 3 and "did you mean 'iris'?" in wrong.stderr and "specs with jobs: bikes, iris" in wrong.stderr
    assert cli(home / "empty", "status", "latest").returncode == 3


def test_the_python_api_takes_latest_as_the_cli_does(home: Path, monkeypatch):
    """`cloudauto.attach("iris@latest")` raised JobNotFound while every CLI command took it."""
    import cloudauto
    from cloudauto.api import NoSuchJob

    monkeypatch.setenv("CLOUDAUTO_HOME", str(home))
    now = time.time()
    newest_iris = make_job(home / "runs", "iris", created=now - 100)
    make_job(home / "runs", "iris", created=now - 5000)
    newest = make_job(home / "runs", "bikes", created=now - 10)
    assert cloudauto.attach("iris@latest").id == newest_iris
    assert repr(cloudauto.attach("iris@latest")) == f"<LocalJobHandle local:{newest_iris}>"
    assert cloudauto.attach("latest").id == newest
    with pytest.raises(NoSuchJob, match="did you mean 'iris'"):
        cloudauto.attach("irsi@latest")


def test_runs_lists_by_submission_so_its_last_row_is_latest(home: Path):
    """Sorted by the store's last write, a job submitted first but ended last was listed last, and `latest` took another."""
    now = time.time()
    first = make_job(home / "runs", "bin", created=now - 100)
    second = make_job(home / "runs", "reg", created=now - 50)
    same_a = make_job(home / "runs", "slowc", created=now - 10)
    same_b = make_job(home / "runs", "slowc", created=now - 10)  # two submits in one instant
    os.utime(home / "runs" / first / "run.db")  # the first submitted ends last
    listed = [line.split("\t")[0] for line in cli(home, "runs").stdout.splitlines()[1:]]
    assert listed[:2] == [first, second] and set(listed[2:]) == {same_a, same_b}, listed
    assert cli(home, "status", "latest").stdout.startswith(listed[-1])
    assert [r["id"] for r in json.loads(cli(home, "runs", "--format", "json").stdout)] == listed


@pytest.mark.parametrize("command", [["deploy", "--name", "wine"], ["predict", "IN", "-o", "OUT"], ["status"], ["best"]])
def test_a_command_given_latest_says_which_job_it_took(home: Path, tmp_path: Path, command: list[str]):
    """`latest` is the newest job of the home, another shell's perhaps: the job it resolved to is said, on stderr."""
    (tmp_path / "in.csv").write_text("a,b\n1,2\n")
    command = [str(tmp_path / "in.csv") if w == "IN" else str(tmp_path / "out.csv") if w == "OUT" else w for w in command]
    now = time.time()
    mine = make_job(home / "runs", "iris", created=now - 100, objective=0.9)
    other = make_job(home / "runs", "bikes", created=now - 10)
    for name, job in (("latest", other), ("iris@latest", mine)):
        said = cli(home, command[0], name, *command[1:])
        assert f"{name} is job {job}\n" in said.stderr, said.stderr
        assert said.stderr.count(f"{name} is job") == 1
        assert f"{name} is job" not in said.stdout
    assert f"is job {mine}" not in cli(home, "status", mine).stderr  # an id is not resolved: nothing said


def test_delete_twice_leaves_nothing_of_the_job_in_the_home(home: Path, tmp_path: Path):
    now = time.time()
    here = make_job(home / "runs", "iris", created=now - 100, mb=2.02)
    elsewhere = make_job(home / "runs", "iris", created=now - 50, where=tmp_path / "project-runs")
    other = make_job(home / "runs", "bikes", created=now - 10)
    first = cli(home, "delete", here)
    assert first.returncode == 0, first.stderr
    # the model's 2.02 MB, the store (and its write-ahead log, as the delete found it)
    assert first.stdout in (f"deleted {here}: freed {mb} MB (its models and logs)\n" for mb in ("2.0", "2.1"))
    again = cli(home, "delete", here)
    assert again.returncode == 3 and f"no local job '{here}'" in again.stderr and "Traceback" not in again.stderr
    assert cli(home, "delete", "iris@latest").returncode == 0  # the one kept under the project, linked from the home
    assert not (tmp_path / "project-runs" / elsewhere).exists() and not os.path.lexists(home / "runs" / elsewhere)
    assert home_files_naming(home, here) == [] and home_files_naming(home, elsewhere) == []
    assert sorted(p.name for p in (home / "runs").iterdir()) == [other]  # no trash, no link, the other job kept
    assert list((tmp_path / "project-runs").iterdir()) == []


def test_a_running_job_is_refused_and_prune_skips_it(home: Path, sleeper):
    job = make_job(home / "runs", "iris", created=time.time() - 10 * 86400)
    own(home / "runs" / job, sleeper.pid)
    refused = cli(home, "delete", job)
    assert refused.returncode == 6, refused.stderr
    assert f"its scheduler (pid {sleeper.pid}) is running it: cloudauto cancel {job} first" in refused.stderr
    pruned = cli(home, "prune", "--older-than", "1d")
    assert pruned.returncode == 0 and f"skipped {job}: job {job} is in use" in pruned.stderr
    assert "deleted 0 jobs older than 1d, freed 0 B" in pruned.stdout
    assert (home / "runs" / job / "run.db").is_file()
    sleeper.kill()
    sleeper.wait()  # the scheduler is gone: the job is interrupted, and may go
    assert cli(home, "delete", job).returncode == 0


def test_a_job_an_endpoint_is_deployed_from_is_refused_naming_it(home: Path, sleeper):
    from cloudauto_local.endpoint import _started

    job = make_job(home / "runs", "iris", created=time.time() - 100)
    (home / "endpoints").mkdir(parents=True)
    record = {"name": "iris-api", "url": "http://127.0.0.1:9", "pid": 0, "model_dir": "m", "job_id": job, "trial": 0}
    starting = {**record, "state": "starting", "deployer": sleeper.pid, "deployer_started": _started(sleeper.pid)}
    (home / "endpoints" / "iris-api.json").write_text(json.dumps(starting))
    stopped = {**record, "name": "old-api", "pid": 999_999_999, "created": 1.0}
    (home / "endpoints" / "old-api.json").write_text(json.dumps(stopped))
    (home / "endpoints" / "old-api.log").write_text(f"serving {job}\n")
    refused = cli(home, "delete", job)
    assert refused.returncode == 6
    assert "endpoint 'iris-api' (starting at http://127.0.0.1:9) serves its model: cloudauto delete-endpoint iris-api first" in (
        refused.stderr
    )
    assert (home / "endpoints" / "old-api.json").is_file()  # nothing was deleted
    (home / "endpoints" / "iris-api.json").unlink()
    assert cli(home, "delete", job).returncode == 0
    # the stopped endpoint's record and log went with the job; its removal note says why
    assert home_files_naming(home, job) == ["endpoints/old-api.removed.json"]


def test_prune_by_age_keeps_the_best_and_says_what_it_frees(home: Path):
    now = time.time()
    best = make_job(home / "runs", "iris", created=now - 40 * 86400, objective=0.97)
    worse = make_job(home / "runs", "iris", created=now - 35 * 86400, objective=0.90)
    recent = make_job(home / "runs", "iris", created=now - 3600, objective=0.95)
    dry = cli(home, "prune", "--older-than", "30d", "--keep-best", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert f"kept {best}: the best iris job (accuracy=0.97)" in dry.stdout
    assert re.search(rf"would delete {worse} \(1\.[01] MB\)", dry.stdout) and recent not in dry.stdout
    assert (home / "runs" / worse).is_dir()
    done = cli(home, "prune", "--older-than", "30d", "--keep-best")
    assert re.search(r"deleted 1 job older than 30d, freed 1\.[01] MB", done.stdout)
    assert sorted(p.name for p in (home / "runs").iterdir()) == sorted([best, recent])


def test_two_prunes_at_once_delete_each_job_once(home: Path):
    now = time.time()
    jobs = {make_job(home / "runs", "iris", created=now - 86400 - i, mb=0.2) for i in range(6)}
    env = {**os.environ, "CLOUDAUTO_HOME": str(home)}
    exe = Path(sys.executable).with_name("cloudauto")
    procs = [
        subprocess.Popen(
            [str(exe), "prune", "--older-than", "1h"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    said = [line.split()[1] for out, _ in outs for line in out.splitlines() if line.startswith("deleted ") and "(" in line]
    assert sorted(said) == sorted(jobs)  # each job deleted once, by one of the two
    assert all("Traceback" not in err and "internal error" not in err for _, err in outs)
    assert list((home / "runs").iterdir()) == []


def test_prune_removes_what_a_killed_delete_left(home: Path):
    job = make_job(home / "runs", "iris", created=time.time() - 100)
    trash = home / "runs" / f".{job}.deleting-999999999"
    (home / "runs" / job).rename(trash)  # as a delete killed between its rename and its removal leaves it
    (trash / "run.db").unlink()
    result = cli(home, "prune", "--older-than", "30d")
    assert result.returncode == 0, result.stderr
    assert f"removed {trash} (1.0 MB), left by a delete that was stopped half-way" in result.stdout
    assert not trash.exists()


def test_delete_waits_for_a_run_that_reads_the_ended_job(home: Path, monkeypatch):
    """`run` reads the job's results after its scheduler exits: a delete then is refused, not a `run` failing exit 3."""
    from cloudauto_local.handle import LocalJobHandle

    from cloudauto.cli import outcome

    monkeypatch.setenv("CLOUDAUTO_HOME", str(home))
    job_id = make_job(home / "runs", "iris", created=time.time() - 100, objective=0.9)
    said: list[subprocess.CompletedProcess] = []
    summary = outcome._print_summary

    def racing_summary(job) -> None:  # another shell deletes the job as `run` reads its results
        said.append(cli(home, "delete", job_id))
        summary(job)

    monkeypatch.setattr(outcome, "_print_summary", racing_summary)
    assert outcome._finish(LocalJobHandle(home / "runs" / job_id), wait=True, verb="waited") == 0
    (refused,) = said
    assert refused.returncode == 6, refused.stdout + refused.stderr
    assert "a `cloudauto run` (or submit --wait) waits on it" in refused.stderr
    after = cli(home, "delete", job_id)  # once `run` has ended, delete goes ahead
    assert after.returncode == 0, after.stderr
    assert not (home / "runs" / job_id).exists()


def test_a_job_deleted_meanwhile_is_said_so_by_prune(home: Path):
    """Two prunes at once: the one that lists a job the other deletes says so, not "run store ... cannot be used"."""
    from cloudauto_local.handle import LocalJobHandle

    job_id = make_job(home / "runs", "iris", created=time.time() - 86400)
    stale = LocalJobHandle(home / "runs" / job_id)  # as the other prune listed it
    assert cli(home, "delete", job_id).returncode == 0
    with pytest.raises(Exception, match=f"no local job '{job_id}': it was deleted meanwhile"):
        stale.ended()


def test_prune_older_than_0s_is_every_ended_job(home: Path):
    """0s was refused ('a duration must be positive'): it means every job that has ended, even just now."""
    now = time.time()
    old = make_job(home / "runs", "iris", created=now - 86400)
    fresh = make_job(home / "runs", "iris", created=now - 60)  # ended this instant
    dry = cli(home, "prune", "--older-than", "0s", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert f"would delete {old}" in dry.stdout and f"would delete {fresh}" in dry.stdout
    assert "would delete 2 jobs older than 0s" in dry.stdout and len(list((home / "runs").iterdir())) == 2
    assert cli(home, "prune", "--older-than", "-1s").returncode == 64  # still no negative age
    done = cli(home, "prune", "--older-than", "0")
    assert done.returncode == 0 and "deleted 2 jobs older than 0" in done.stdout, done.stdout + done.stderr
    assert list((home / "runs").iterdir()) == []


def _standby_gone(pid: int, timeout: float = 20.0) -> None:
    import psutil

    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return
        except psutil.NoSuchProcess:
            return
        time.sleep(0.05)
    raise AssertionError(f"the standby {pid} did not exit")


def test_prune_removes_the_log_of_a_standby_whose_submit_was_killed_and_keeps_a_live_ones(home: Path):
    """A submit SIGKILLed mid-way leaves its standby's hidden log in the runs folder (its standby exits: stdin closed)."""
    from cloudauto_local.standby import Standby

    runs = home / "runs"
    submit = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from cloudauto_local.standby import Standby; "
            f"s = Standby.start(Path({str(runs)!r}), 'none', 1, None); print(s.log, s.proc.pid, flush=True); time.sleep(120)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    stale, pid = submit.stdout.readline().split()
    submit.kill()  # as `kill -9` of a submit during its data check
    submit.wait()
    _standby_gone(int(pid))
    live = Standby.start(runs, "none", 1, None)  # another submit's, still checking its data
    try:
        old = time.time() - 3600  # both long-lived: age alone does not tell them apart
        os.utime(stale, (old, old))
        os.utime(live.log, (old, old))
        result = cli(home, "prune", "--older-than", "30d")
        assert result.returncode == 0, result.stderr
        assert not Path(stale).exists(), result.stdout
        assert f"removed {stale}" in result.stdout
        assert live.log.exists() and live.proc.poll() is None
    finally:
        live.abandon()
    assert not live.log.exists()


def test_a_submit_killed_while_it_creates_the_store_leaves_no_job_and_prune_removes_its_folder(home: Path):
    """kill -9 between the store's schema and its job row: no job folder appears (runs/delete/status see none)."""
    runs = home / "runs"
    creating = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import json, time; from pathlib import Path; from cloudauto_local.store import RunStore\n"
            "def stuck(self):\n    print('ready', flush=True); time.sleep(120)\n"
            "RunStore._db = stuck\n"
            f"RunStore.create(Path({str(runs / 'iris-1')!r}), 'iris-1', '{{}}', None)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert creating.stdout.readline().strip() == "ready"
    creating.kill()
    creating.wait()
    assert [p.name for p in runs.iterdir() if not p.name.startswith(".")] == []
    listed = cli(home, "runs")
    assert "iris-1" not in listed.stdout + listed.stderr
    result = cli(home, "prune", "--older-than", "30d")
    assert result.returncode == 0, result.stderr
    assert "left by a submit that was stopped half-way" in result.stdout, result.stdout
    assert list(runs.iterdir()) == []


def test_a_job_folder_whose_store_never_got_its_schema_is_deleted_and_pruned(home: Path):
    """What an earlier release's killed submit left: run.db with no tables. delete ID and prune remove it."""
    import sqlite3

    runs = home / "runs"
    for name in ("bolt-1", "bolt-20200101-000000-aec8"):
        (runs / name).mkdir(parents=True)
        sqlite3.connect(runs / name / "run.db").close()
        (runs / name / "run.db").write_bytes(b"")
    result = cli(home, "delete", "bolt-1")
    assert result.returncode == 0, result.stderr
    assert "deleted bolt-1" in result.stdout
    assert not (runs / "bolt-1").exists()
    result = cli(home, "prune", "--older-than", "1h")
    assert result.returncode == 0, result.stderr
    assert "deleted bolt-20200101-000000-aec8" in result.stdout, result.stdout + result.stderr
    assert not (runs / "bolt-20200101-000000-aec8").exists()
    fresh = runs / "bolt-3"  # a store a process has open may be another release's submit at work: kept
    fresh.mkdir()
    (fresh / "run.db").write_bytes(b"")
    with open(fresh / "run.db"):
        result = cli(home, "delete", "bolt-3")
    assert result.returncode == 3 and fresh.exists(), result.stdout + result.stderr


def test_prune_dry_run_lists_the_stale_standby_logs_the_real_prune_removes(home: Path):
    runs = home / "runs"
    runs.mkdir(parents=True)
    stale = runs / ".standby-deadbeef.log"  # no standby holds its lock: its submit was killed
    stale.write_text("started\n")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    result = cli(home, "prune", "--older-than", "1h", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert f"would remove {stale}" in result.stdout, result.stdout
    assert stale.exists()
    result = cli(home, "prune", "--older-than", "1h")
    assert f"removed {stale}" in result.stdout and not stale.exists()


def test_a_link_named_like_a_killed_delete_is_unlinked_never_followed(home: Path, tmp_path: Path):
    runs = home / "runs"
    runs.mkdir(parents=True)
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("mine")
    link = runs / ".v.deleting-999999999"
    link.symlink_to(victim, target_is_directory=True)
    result = cli(home, "prune", "--older-than", "30d")
    assert result.returncode == 0, result.stderr
    assert f"removed {link}" in result.stdout
    assert not link.is_symlink() and (victim / "keep.txt").read_text() == "mine"
    again = cli(home, "prune", "--older-than", "30d")
    assert "removed" not in again.stdout, again.stdout


ELSEWHERE_SPEC = """\
name: kjob
task: custom
engine: command
metric: {name: acc, goal: maximize}
command: {run: 'python train.py', code: .}
sweep: {space: {lr: {choice: [0.1]}}}
limits: {max_trials: 1}
backends: {local: {run_dir: ./elsewhere}}
"""


def _killed_submit(home: Path, spec: Path, call: str, when: str, after: bool = False) -> None:
    """`cloudauto submit` killed -9 inside os.<call> (where `when`, an expression of its args a, holds), as
    /work/try/atk5/k/slow.py does: before the call, or just after it with `after`."""
    code = (
        "import os, sys, time\n"
        f"real = os.{call}\n"
        "def slow(*a, **kw):\n"
        f"    hit = {when}\n"
        "    if hit and not AFTER: print('ready', flush=True); time.sleep(120)\n"
        "    done = real(*a, **kw)\n"
        "    if hit: print('ready', flush=True); time.sleep(120)\n"
        "    return done\n"
        f"AFTER = {after}\n"
        f"os.{call} = slow\n"
        "from cloudauto.cli import main\n"
        f"sys.argv = ['cloudauto', 'submit', {str(spec)!r}]\n"
        "main()\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=spec.parent,
        env={**os.environ, "CLOUDAUTO_HOME": str(home), "CLOUDAUTO_BACKEND": ""},
    )
    assert proc.stdout.readline().strip() == "ready"
    proc.kill()
    proc.wait()


def _age_standby_logs(folder: Path) -> list[Path]:
    """The folder's standby logs, made old once their standby (which exits when its submit's pipe closes) let go."""
    import fcntl

    logs = sorted(folder.glob(".standby-*.log"))
    for log in logs:
        deadline = time.time() + 30
        with open(log) as fh:
            while True:
                try:
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    assert time.time() < deadline, f"{log} still held"
                    time.sleep(0.1)
        os.utime(log, (time.time() - 3600, time.time() - 3600))
    return logs


@pytest.fixture
def elsewhere_spec(tmp_path: Path) -> Path:
    (tmp_path / "train.py").write_text("print('x')\n")
    spec = tmp_path / "k.yaml"
    spec.write_text(ELSEWHERE_SPEC)
    return spec


@pytest.mark.parametrize(
    ("call", "when"),
    [
        ("rename", "'.creating-' in str(a[0])"),  # inside RunStore.create, before its rename
        ("symlink", "'kjob-' in os.path.basename(str(a[1]))"),  # before the home's link to the job is made
    ],
)
def test_a_submit_killed_half_way_with_a_run_dir_elsewhere_leaves_what_prune_removes(home, elsewhere_spec, call, when):
    """backends.local.run_dir set: a kill -9 left `.<id>.creating-<pid>` and standby logs there that prune never saw."""
    elsewhere = elsewhere_spec.parent / "elsewhere"
    _killed_submit(home, elsewhere_spec, call, when)
    (building,) = elsewhere.glob(".kjob-*.creating-*")
    logs = _age_standby_logs(elsewhere)
    assert logs
    listed = cli(home, "prune", "--dry-run", "--older-than", "0s")
    assert listed.returncode == 0, listed.stderr
    assert f"would remove {building} " in listed.stdout, listed.stdout
    for log in logs:
        assert f"would remove {log} " in listed.stdout, listed.stdout
    assert building.exists() and all(log.exists() for log in logs)
    result = cli(home, "prune", "--older-than", "0s")
    assert result.returncode == 0, result.stderr
    assert sorted(elsewhere.iterdir()) == []
    assert [p.name for p in (home / "runs").iterdir() if not p.name.startswith(".")] == []  # no link left dangling
    again = cli(home, "prune", "--dry-run", "--older-than", "0s")
    assert "would remove" not in again.stdout, again.stdout


def test_a_submit_killed_after_its_job_folder_was_made_elsewhere_leaves_a_job_status_and_runs_find(home, elsewhere_spec):
    """Killed after RunStore.create's rename and before the home's link: `status` said no such job (exit 3), `runs`
    left it out, and prune did not see it."""
    elsewhere = elsewhere_spec.parent / "elsewhere"
    _killed_submit(home, elsewhere_spec, "rename", "'.creating-' in str(a[0])", after=True)
    (job,) = [p for p in elsewhere.iterdir() if not p.name.startswith(".")]
    assert (job / "run.db").is_file()
    status = cli(home, "status", job.name)
    assert status.returncode != 3, status.stdout + status.stderr
    assert job.name in cli(home, "runs").stdout


def test_a_job_folder_moved_out_of_its_run_dir_is_listed_missing_and_prune_keeps_its_link(home, elsewhere_spec):
    """atk7 F3: with its run_dir still there, a job folder moved away looked like a submit stopped half-way: prune
    removed the home's link, and once the folder was moved back `status` said no such job (exit 3). The job is
    said missing (where it should be) and its link kept; only a link beside a killed submit's `.creating-` folder goes."""
    elsewhere = elsewhere_spec.parent / "elsewhere"
    (elsewhere_spec.parent / "train.py").write_text("import cloudauto\ncloudauto.report(acc=0.5)\n")
    ran = run("run", str(elsewhere_spec), env={"CLOUDAUTO_HOME": str(home), "CLOUDAUTO_BACKEND": ""}, cwd=elsewhere_spec.parent)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    (job,) = [p for p in elsewhere.iterdir() if not p.name.startswith(".")]
    backup = elsewhere_spec.parent / "backup"
    backup.mkdir()
    job.rename(backup / job.name)

    runs = cli(home, "runs")
    (row,) = [line for line in runs.stdout.splitlines() if line.startswith(job.name)]
    assert "missing" in row and str(job) in row, row
    for args in (("prune", "--older-than", "30d"), ("prune", "--older-than", "0s")):
        pruned = cli(home, *args)
        assert pruned.returncode == 0, pruned.stderr
        assert "stopped half-way" not in pruned.stdout, pruned.stdout
    assert (home / "runs" / job.name).is_symlink()
    status = cli(home, "status", job.name)
    assert status.returncode == 3 and f"its folder {job} is missing" in status.stderr, status.stderr
    assert f"rm {home / 'runs' / job.name} drops the link" in status.stderr, status.stderr

    (backup / job.name).rename(job)
    status = cli(home, "status", job.name)
    assert status.returncode == 0, status.stdout + status.stderr
