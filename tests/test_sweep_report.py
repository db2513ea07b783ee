"""`cloudauto report`'s picture, from a handle of hand-made trials: overlaps named, failures shown, no warnings."""

from __future__ import annotations

import warnings

from cloudauto.backend import JobHandle, JobStatus, MetricPoint, Trial, TrialStatus
from cloudauto.report import board_lines, curve_groups, failure_groups, sweep_png
from cloudauto.spec import JobSpec

SPEC = JobSpec.from_dict(
    {
        "name": "pic",
        "task": "custom",
        "engine": "command",
        "command": {"run": "python t.py"},
        "metric": {"name": "score", "goal": "maximize"},
        "sweep": {"sampling": "grid", "space": {"lr": {"choice": [0.1, 0.2, 0.3, 0.4, 0.5]}}},
    }
)


class Handle(JobHandle):
    backend, id = "fake", "pic-1"

    def __init__(self, trials: list[Trial]):
        self._trials = trials

    def status(self) -> JobStatus:
        return JobStatus.COMPLETED

    def trials(self) -> list[Trial]:
        return self._trials

    def cancel(self) -> None: ...

    def logs(self, trial=None) -> str:
        return ""

    @property
    def spec(self) -> JobSpec:
        return SPEC


def trial(n: int, values: list[float], status=TrialStatus.COMPLETED, error=None) -> Trial:
    return Trial(
        str(n),
        n,
        {"lr": 0.1 * (n + 1)},
        status,
        [MetricPoint(i + 1, v) for i, v in enumerate(values)],
        objective=max(values) if values and status is not TrialStatus.FAILED else None,
        started=0.0,
        ended=2.0,
        error=error,
    )


TRIALS = [
    trial(0, [0.5, 0.6]),
    trial(1, [0.5, 0.6]),  # the same as trial 0
    trial(2, [0.4, 0.9]),
    trial(3, [], TrialStatus.FAILED, "the command exited with code 1; log ends: a | ValueError: bad lr"),
    trial(4, [], TrialStatus.FAILED, "ValueError: bad lr"),
]


def test_trials_with_the_same_values_are_one_line_named_for_all():
    groups = list(curve_groups(TRIALS).values())
    assert [[t.number for t in g] for g in groups] == [[0, 1], [2]]


def test_the_board_ranks_the_trials_with_their_parameters_and_the_failures_are_grouped():
    ranked = sorted((t for t in TRIALS if t.objective is not None), key=lambda t: -t.objective)
    lines = board_lines(ranked, "score")
    assert lines[1].split()[:4] == ["1", "2", "completed", "0.9"] and lines[1].endswith("lr=0.3")
    assert failure_groups(TRIALS) == ["2 trials failed (3, 4): ValueError: bad lr"]
    assert board_lines([], "score")[-1].strip() == "no trial has a result"


def test_the_png_is_written_without_a_warning_even_with_nothing_reported(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        full = sweep_png(Handle(TRIALS), tmp_path / "full.png")
        empty = sweep_png(Handle([trial(0, [], TrialStatus.FAILED, "boom")]), tmp_path / "empty.png")
    assert full.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and full.stat().st_size > 20_000
    assert empty.stat().st_size > 10_000


def test_only_failed_trials_are_drawn_with_the_failed_square(tmp_path, monkeypatch):
    """The subtitle says square = failed / timed out / canceled: no completed trial's line may use that marker."""
    from matplotlib.figure import Figure

    drawn: list[Figure] = []
    save = Figure.savefig
    monkeypatch.setattr(Figure, "savefig", lambda fig, *a, **k: (drawn.append(fig), save(fig, *a, **k))[1])
    completed = [trial(n, [0.1 * n, 0.1 * n + 0.05]) for n in range(6)]
    failed = trial(6, [0.2, 0.1], TrialStatus.FAILED, "ValueError: bad lr")
    sweep_png(Handle([*completed, failed]), tmp_path / "markers.png")
    (fig,) = drawn
    assert "square = failed" in fig.axes[0].get_title()
    lines = fig.axes[0].get_lines()
    for t in completed:
        (line,) = [ln for ln in lines if ln.get_label().split(" (")[0] == f"trial {t.number}"]
        assert line.get_marker() not in ("s", "x"), f"completed trial {t.number} drawn with {line.get_marker()!r}"
    squares = [ln for ln in lines if ln.get_marker() == "s"]
    assert [(list(ln.get_xdata()), list(ln.get_ydata())) for ln in squares] == [([2], [0.1])]  # failed trial's end only


def _board(monkeypatch, tmp_path, trials: list[Trial]) -> str:
    from matplotlib.figure import Figure

    drawn: list[Figure] = []
    save = Figure.savefig
    monkeypatch.setattr(Figure, "savefig", lambda fig, *a, **k: (drawn.append(fig), save(fig, *a, **k))[1])
    sweep_png(Handle(trials), tmp_path / "board.png")
    (fig,) = drawn
    return "\n".join(t.get_text() for t in fig.axes[1].texts)


def _listed(board: str) -> list[int]:
    rows = [line.split() for line in board.splitlines()[1:]]  # a trial's wrapped parameters continue on lines of their own
    return sorted(int(words[1]) for words in rows if len(words) > 1 and words[1].isdigit())


def test_the_board_lists_every_trial_of_a_nine_trial_sweep(tmp_path, monkeypatch):
    """An asha sweep of 9: 4 completed, 5 stopped at a rung (their best report is their objective)."""
    trials = [trial(n, [0.05 * n, 0.05 * n + 0.01], TrialStatus.COMPLETED if n % 2 else TrialStatus.TERMINATED) for n in range(9)]
    trials[6] = Trial("6", 6, {"lr": 0.7}, TrialStatus.TERMINATED, [MetricPoint(1, 0.001)], objective=0.001, started=0.0, ended=1.0)
    assert _listed(_board(monkeypatch, tmp_path, trials)) == list(range(9))


def test_a_trial_without_a_result_is_listed_and_a_long_board_says_what_it_leaves_out(tmp_path, monkeypatch):
    interrupted = Trial("3", 3, {"lr": 0.4}, TrialStatus.INTERRUPTED, [], started=0.0, ended=1.0)
    board = _board(monkeypatch, tmp_path, [trial(0, [0.5]), trial(1, [0.6]), trial(2, [0.7]), interrupted])
    assert _listed(board) == [0, 1, 2, 3] and "interrupted" in board
    many = [trial(n, [0.01 * n]) for n in range(30)]
    board = _board(monkeypatch, tmp_path, many)
    assert len(_listed(board)) < 30 and f"and {30 - len(_listed(board))} more" in board and "cloudauto trials pic-1" in board


def test_trials_whose_parameters_differ_late_in_a_long_list_read_apart_on_the_board(tmp_path, monkeypatch):
    """The seed's zero-shot and fine-tuned Chronos-2 trials differ only after a long weights path: the board cut the
    parameters at 70 characters, so both read `models=Chronos2, Chronos2.model_path=./data/checkpoints/chronos2-tiny…`."""
    common = {"models": "Chronos2", "Chronos2.model_path": "./data/checkpoints/chronos2-tiny"}
    zero = Trial("0", 0, {**common, "Chronos2.fine_tune": False, "time_limit": 180}, TrialStatus.COMPLETED,
                 [MetricPoint(1, 3.9)], objective=3.9, started=0.0, ended=2.0)
    tuned = Trial("1", 1, {**common, "Chronos2.fine_tune": True, "Chronos2.fine_tune_steps": 20, "time_limit": 180},
                  TrialStatus.COMPLETED, [MetricPoint(1, 3.8)], objective=3.8, started=0.0, ended=2.0)
    board = _board(monkeypatch, tmp_path, [zero, tuned])
    assert "Chronos2.fine_tune=False" in board and "Chronos2.fine_tune=True" in board, board
    assert "Chronos2.fine_tune_steps=20" in board and "…" not in board
    assert max(map(len, board.splitlines())) <= 160  # the figure's 11 inches of 8 pt monospace
    assert _listed(board) == [0, 1]
