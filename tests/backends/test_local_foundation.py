"""Foundation models on the local backend: a forecasting sweep over Chronos-2 (zero-shot and fine-tuned) from the
random-weight folder make_data.py writes (no download), deployed and scored; the saved predictor loads and forecasts
the same with that folder deleted; and the compile refusals of a foundation model without a folder, offline."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import cloudauto
from cloudauto.backend import TrialStatus

from .foundation_specs import bike_head

pytestmark = pytest.mark.slow
EXE = str(Path(sys.executable).with_name("cloudauto"))

SPEC = "\n" + bike_head("fm-bike", "{data}") + """sweep:
  sampling: grid
  space:
{space}
"""
SWEEP = """    - models: Chronos2
      Chronos2.model_path: {weights}
      Chronos2.fine_tune: {{choice: [false, true]}}
      Chronos2.fine_tune_steps: 5
      time_limit: 40
    - models: {{choice: [SeasonalNaive, Theta]}}
      time_limit: 20
"""


@pytest.fixture
def fm_data(foundation_data) -> Path:
    return foundation_data / "data"


def write_spec(folder: Path, data: Path, weights: str, name: str = "spec.yaml", sweep: str = SWEEP) -> Path:
    path = folder / name
    path.write_text(SPEC.format(data=data, space=sweep.format(weights=weights)))
    return path


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    import os

    return subprocess.run([EXE, *args], capture_output=True, text=True, timeout=900, env={**os.environ, **(env or {})})


def test_a_chronos2_sweep_from_a_random_weight_folder_is_served_and_loads_without_the_folder(runs_dir, fm_data, tmp_path):
    from autogluon.timeseries import TimeSeriesDataFrame, TimeSeriesPredictor

    weights = tmp_path / "chronos2-tiny"
    shutil.copytree(fm_data / "checkpoints" / "chronos2-tiny", weights)
    run = cli("run", str(write_spec(tmp_path, fm_data, str(weights))))
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    job = cloudauto.attach(run.stdout.split()[1].rstrip(":"))
    trials = job.trials()
    assert [(t.params["models"], t.params.get("Chronos2.fine_tune")) for t in trials] == [
        ("Chronos2", False),
        ("Chronos2", True),
        ("SeasonalNaive", None),
        ("Theta", None),
    ]
    assert all(t.status is TrialStatus.COMPLETED and t.objective is not None for t in trials), [t.error for t in trials]
    zero_shot, tuned = trials[0], trials[1]
    assert "test_MASE" in tuned.scores and zero_shot.objective != tuned.objective  # five LoRA steps moved the weights

    # the weights are in the saved model: the folder the spec names can go
    history = pd.read_csv(fm_data / "bike" / "train.csv")
    frame = TimeSeriesDataFrame.from_data_frame(history, id_column="station", timestamp_column="timestamp")
    model_dirs = [Path(t.artifacts["dir"]) / "model" for t in (zero_shot, tuned)]
    before = [TimeSeriesPredictor.load(str(d)).predict(frame) for d in model_dirs]
    for d in model_dirs:
        ckpt = next(d.rglob("fine-tuned-ckpt"))
        assert (ckpt / "model.safetensors").is_file() and not (ckpt / "adapter_config.json").exists()
    shutil.rmtree(weights)
    after = [TimeSeriesPredictor.load(str(d)).predict(frame) for d in model_dirs]
    for b, a in zip(before, after, strict=True):
        pd.testing.assert_frame_equal(b, a)

    deployed = cli("deploy", job.id, "--trial", str(tuned.number), "--name", "fm-bike")
    assert deployed.returncode == 0, deployed.stderr
    endpoint = cloudauto.get_backend("local").endpoint("fm-bike")
    try:
        served = endpoint.score(history)
        assert len(served) == 2 * 48
        assert {"mean", *(str(q / 10) for q in range(1, 10))} <= set(map(str, served.columns))  # Chronos-2's quantiles
        expected = after[1].reset_index()
        assert served["mean"].to_numpy() == pytest.approx(expected["mean"].to_numpy(), rel=1e-5)  # float32 over JSON
    finally:
        endpoint.delete()


def test_offline_a_foundation_model_without_a_folder_is_refused_at_compile(fm_data, tmp_path, monkeypatch):
    monkeypatch.delenv("CLOUDAUTO_ALLOW_HUB", raising=False)
    hub = cli("compile", str(write_spec(tmp_path, fm_data, "autogluon/chronos-2-small", "hub.yaml")))
    assert hub.returncode == 2, hub.stdout + hub.stderr
    assert "Chronos2 has the hub name 'autogluon/chronos-2-small'" in hub.stderr and "CLOUDAUTO_ALLOW_HUB=1" in hub.stderr
    assert "hub.yaml:" in hub.stderr and "Traceback" not in hub.stderr

    none = tmp_path / "none.yaml"
    none.write_text((tmp_path / "hub.yaml").read_text().replace("      Chronos2.model_path: autogluon/chronos-2-small\n", ""))
    refused = cli("compile", str(none))
    assert refused.returncode == 2 and "Chronos2 has no weights" in refused.stderr
    made = Path(__file__).resolve().parents[2] / "job_specs" / "data" / "checkpoints" / "chronos2-tiny"
    assert f"Chronos2.model_path: {made}`" in refused.stderr  # where make_data.py writes it

    missing = cli("compile", str(write_spec(tmp_path, fm_data, str(tmp_path / "nowhere"), "missing.yaml")))
    assert missing.returncode == 2 and f"no such folder ({tmp_path / 'nowhere'})" in missing.stderr

    allowed = cli("compile", str(tmp_path / "hub.yaml"), env={"CLOUDAUTO_ALLOW_HUB": "1"})
    assert allowed.returncode == 0, allowed.stderr


BOLT = """    - models: Chronos
      Chronos.model_path: {weights}
      Chronos.fine_tune: false
      time_limit: 40
    - models: SeasonalNaive
      time_limit: 20
"""


def test_a_chronos_bolt_sweep_from_its_random_weight_folder_trains_zero_shot_and_loads_without_the_folder(
    runs_dir, fm_data, tmp_path
):
    """make_data.py's Chronos-Bolt folder (its T5 config with decoder_start_token_id) loads in AutoGluon's ChronosModel."""
    from autogluon.timeseries import TimeSeriesDataFrame, TimeSeriesPredictor

    weights = tmp_path / "chronos-bolt-tiny"
    shutil.copytree(fm_data / "checkpoints" / "chronos-bolt-tiny", weights)
    run = cli("run", str(write_spec(tmp_path, fm_data, str(weights), sweep=BOLT)))
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    job = cloudauto.attach(run.stdout.split()[1].rstrip(":"))
    bolt, naive = job.trials()
    assert bolt.params["models"] == "Chronos" and bolt.params["Chronos.fine_tune"] is False
    assert all(t.status is TrialStatus.COMPLETED and "test_MASE" in t.scores for t in (bolt, naive)), [bolt.error, naive.error]

    history = pd.read_csv(fm_data / "bike" / "train.csv")
    frame = TimeSeriesDataFrame.from_data_frame(history, id_column="station", timestamp_column="timestamp")
    model_dir = Path(bolt.artifacts["dir"]) / "model"
    before = TimeSeriesPredictor.load(str(model_dir)).predict(frame)
    assert (next(model_dir.rglob("fine-tuned-ckpt")) / "model.safetensors").is_file()  # the weights, copied in
    shutil.rmtree(weights)
    pd.testing.assert_frame_equal(before, TimeSeriesPredictor.load(str(model_dir)).predict(frame))


TABULAR = """
name: fm-iris
task: tabular_classification
data: {{train: {data}/iris/train.csv, test: {data}/iris/test.csv, label: target}}
metric: accuracy
sweep:
  sampling: grid
  space:
    models: {{choice: [{models}]}}
{extra}
    time_limit: 60
"""


def test_a_tabular_foundation_model_sweeps_zero_shot_and_fine_tuned_from_its_folder(runs_dir, fm_data, tmp_path):
    """TabPFNMix comes with the local backend's base install; Mitra (the foundation extra) without weights is refused."""
    extra = f"    TABPFNMIX.model_path: {fm_data}/checkpoints/tabpfnmix-tiny\n    TABPFNMIX.max_epochs: {{choice: [0, 2]}}"
    spec = tmp_path / "tab.yaml"
    spec.write_text(TABULAR.format(data=fm_data, models="TABPFNMIX", extra=extra))
    run = cli("run", str(spec), env={"HF_HUB_OFFLINE": "1"})
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    job = cloudauto.attach(run.stdout.split()[1].rstrip(":"))
    trials = job.trials()
    assert [t.params["TABPFNMIX.max_epochs"] for t in trials] == [0, 2]
    assert all(t.status is TrialStatus.COMPLETED and "test_accuracy" in t.scores for t in trials), [t.error for t in trials]

    mitra = tmp_path / "mitra.yaml"
    mitra.write_text(TABULAR.format(data=fm_data, models="MITRA, GBM", extra="    MITRA.fine_tune_steps: 10"))
    refused = cli("compile", str(mitra))
    import importlib.util

    if importlib.util.find_spec("loguru") is None:
        assert refused.returncode == 2 and "MITRA needs loguru" in refused.stderr and "autogluon.tabular[mitra]" in refused.stderr
    else:
        assert refused.returncode == 2 and "MITRA has no weights" in refused.stderr


def test_a_chronos_bolt_model_saves_only_its_weights_under_a_name_without_the_users_path(fm_data, tmp_path):
    """F2: the saved model holds what AutoGluon's own fine-tuned-ckpt save holds (config and weights), never another
    file of the folder nor one a link in it points to; its name carries the folder's name, not its absolute path."""
    from autogluon.timeseries import TimeSeriesPredictor

    from cloudauto.runtime.autogluon_trial import run_trial

    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET=hunter2\n")
    weights = tmp_path / "bolt-l"
    shutil.copytree(fm_data / "checkpoints" / "chronos-bolt-tiny", weights)
    (weights / "notes.txt").symlink_to(secret)  # compile refuses this folder; the runtime must not carry it either
    (weights / "sub").mkdir()
    (weights / "sub" / "big.bin").write_bytes(b"\0" * 1_000_000)
    spec = cloudauto.JobSpec.from_yaml(SPEC.format(data=fm_data, space="    models: Chronos\n"))
    params = {"models": "Chronos", "Chronos.model_path": str(weights), "Chronos.fine_tune": False, "time_limit": 60}
    result = run_trial(spec, params, tmp_path / "out", lambda v: False)
    assert result.objective is not None
    model_dir = Path(result.model_dir)
    assert not [p for p in model_dir.rglob("*") if p.is_file() and b"hunter2" in p.read_bytes()]
    ckpt = next(model_dir.rglob("fine-tuned-ckpt"))
    kept = {p.name for p in ckpt.iterdir()}
    assert "model.safetensors" in kept and kept <= {"config.json", "model.safetensors", "generation_config.json"}, kept
    names = TimeSeriesPredictor.load(str(model_dir)).model_names()
    assert "Chronos[bolt-l]" in names and not any(str(tmp_path).replace("/", "__") in n for n in names), names


MITRA = """    MITRA.hf_model: {weights}
    MITRA.fine_tune: {{choice: [false, true]}}
    MITRA.fine_tune_steps: 5"""


def test_a_mitra_sweep_from_its_random_weight_folder_is_served_with_probabilities_and_loads_without_the_folder(
    runs_dir, fm_data, tmp_path
):
    """Mitra (autogluon.tabular[mitra], the foundation extra) zero-shot and fine-tuned on the CPU from make_data.py's
    random-weight Tab2D folder, offline; its pickled model holds the weights, so the folder can go; an endpoint
    answers its class probabilities."""
    pytest.importorskip("einx", reason="Mitra needs autogluon.tabular[mitra] (make install-all installs it)")
    from autogluon.tabular import TabularPredictor

    weights = tmp_path / "mitra-tiny"
    shutil.copytree(fm_data / "checkpoints" / "mitra-tiny", weights)
    spec = tmp_path / "mitra.yaml"
    spec.write_text(TABULAR.format(data=fm_data, models="MITRA", extra=MITRA.format(weights=weights)))
    run = cli("run", str(spec), env={"HF_HUB_OFFLINE": "1"})
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    job = cloudauto.attach(run.stdout.split()[1].rstrip(":"))
    trials = job.trials()
    assert [(t.params["models"], t.params["MITRA.fine_tune"]) for t in trials] == [("MITRA", False), ("MITRA", True)]
    assert all(t.status is TrialStatus.COMPLETED and "test_accuracy" in t.scores for t in trials), [t.error for t in trials]

    test = pd.read_csv(fm_data / "iris" / "test.csv").drop(columns="target")
    model_dirs = [Path(t.artifacts["dir"]) / "model" for t in trials]
    before = [TabularPredictor.load(str(d)).predict_proba(test) for d in model_dirs]
    assert ["Mitra" in TabularPredictor.load(str(d)).model_names()[0] for d in model_dirs] == [True, True]
    assert not before[0].equals(before[1])  # five fine-tuning steps moved the weights
    assert [answers_by_row(b) for b in before] == [True, True]
    shutil.rmtree(weights)
    after = [TabularPredictor.load(str(d)).predict_proba(test) for d in model_dirs]
    for b, a in zip(before, after, strict=True):
        pd.testing.assert_frame_equal(b, a)

    deployed = cli("deploy", job.id, "--trial", "1", "--name", "fm-mitra")
    assert deployed.returncode == 0, deployed.stderr
    endpoint = cloudauto.get_backend("local").endpoint("fm-mitra")
    try:
        served = endpoint.score(test, probabilities=True)
        proba = served[[f"proba_{c}" for c in after[1].columns]].to_numpy()
        assert proba == pytest.approx(after[1].to_numpy(), abs=1e-6)
        assert list(served["prediction"]) == list(after[1].idxmax(axis=1))
    finally:
        endpoint.delete()


def test_a_mitra_trial_from_hf_cls_model_fits_the_folder_and_loads_without_it(runs_dir, fm_data, tmp_path):
    """atk7 F2: MITRA.hf_cls_model (read by AutoGluon ahead of hf_model) is weights like hf_model: compiled offline,
    the trial fits from the folder, and the saved predictor answers the same with the folder gone."""
    pytest.importorskip("einx", reason="Mitra needs autogluon.tabular[mitra] (make install-all installs it)")
    from autogluon.tabular import TabularPredictor

    weights = tmp_path / "mitra-tiny"
    shutil.copytree(fm_data / "checkpoints" / "mitra-tiny", weights)
    spec = tmp_path / "mitra.yaml"
    extra = f"    MITRA.hf_cls_model: {weights}\n    MITRA.fine_tune: false"
    spec.write_text(TABULAR.format(data=fm_data, models="MITRA", extra=extra).replace("time_limit: 60", "time_limit: 30"))
    run = cli("run", str(spec), env={"HF_HUB_OFFLINE": "1"})
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    (trial,) = cloudauto.attach(run.stdout.split()[1].rstrip(":")).trials()
    assert trial.status is TrialStatus.COMPLETED, trial.error
    model_dir = Path(trial.artifacts["dir"]) / "model"
    test = pd.read_csv(fm_data / "iris" / "test.csv").drop(columns="target")
    before = TabularPredictor.load(str(model_dir)).predict_proba(test)
    assert answers_by_row(before)  # else the comparison below could not fail
    shutil.rmtree(weights)
    pd.testing.assert_frame_equal(before, TabularPredictor.load(str(model_dir)).predict_proba(test))


def answers_by_row(proba: pd.DataFrame) -> bool:
    """Whether the predictions differ from row to row: a model that answers one value whatever its input (tabicl-tiny
    did, 34 of its tensors zero) predicts the same with or without its folder, so comparing the two proves nothing."""
    return bool(proba.to_numpy(dtype=float).std(axis=0).max() > 1e-5)


FOUNDATION_SWEEP = """    MITRA.hf_model: {mitra-tiny}
    TABICL.model_path: {tabicl-tiny}
    TABICL.n_estimators: 2"""
TABDPT_SWEEP = """    TABDPT.model_weight_path: {tabdpt-tiny}
    TABDPT.n_ensembles: 1"""


def sweep_served_and_reloaded(fm_data: Path, tmp_path: Path, models: list[str], extra: str, served: str) -> None:
    """Sweep `models` offline from copies of make_data.py's folders (`{<folder>}` in `extra`); every trial completes;
    the foundation trials' saved predictors answer the same with the folders deleted; the `served` one is deployed
    and its endpoint's probabilities are the in-process ones."""
    from autogluon.tabular import TabularPredictor

    weights = {}
    for name in re.findall(r"\{([a-z-]+)\}", extra):
        weights[name] = str(tmp_path / "w" / name)
        shutil.copytree(fm_data / "checkpoints" / name, weights[name])
    spec = tmp_path / "fm.yaml"
    text = TABULAR.format(data=fm_data, models=", ".join(models), extra=extra.format_map(weights))
    spec.write_text(text.replace("time_limit: 60", "time_limit: 30"))
    run = cli("run", str(spec), env={"HF_HUB_OFFLINE": "1"})
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    job = cloudauto.attach(run.stdout.split()[1].rstrip(":"))
    trials = job.trials()
    assert [t.params["models"] for t in trials] == models
    assert all(t.status is TrialStatus.COMPLETED and "test_accuracy" in t.scores for t in trials), [t.error for t in trials]

    test = pd.read_csv(fm_data / "iris" / "test.csv").drop(columns="target")
    chosen = [t for t in trials if t.params["models"] != "GBM"]
    model_dirs = [Path(t.artifacts["dir"]) / "model" for t in chosen]
    names = [TabularPredictor.load(str(d)).model_names()[0] for d in model_dirs]
    assert [n.upper().startswith(t.params["models"]) for n, t in zip(names, chosen, strict=True)] == [True] * len(chosen), names
    before = [TabularPredictor.load(str(d)).predict_proba(test) for d in model_dirs]
    assert [answers_by_row(b) for b in before] == [True] * len(before)  # else "the same without the folder" proves nothing
    shutil.rmtree(tmp_path / "w")
    after = [TabularPredictor.load(str(d)).predict_proba(test) for d in model_dirs]
    for b, a in zip(before, after, strict=True):
        pd.testing.assert_frame_equal(b, a)

    at = next(i for i, t in enumerate(chosen) if t.params["models"] == served)
    deployed = cli("deploy", job.id, "--trial", str(chosen[at].number), "--name", f"fm-{served.lower()}")
    assert deployed.returncode == 0, deployed.stderr
    endpoint = cloudauto.get_backend("local").endpoint(f"fm-{served.lower()}")
    try:
        answer = endpoint.score(test, probabilities=True)
        proba = answer[[f"proba_{c}" for c in after[at].columns]].to_numpy()
        assert proba == pytest.approx(after[at].to_numpy(), abs=1e-6)
    finally:
        endpoint.delete()


def test_a_mitra_tabicl_gbm_sweep_from_random_weight_folders_is_served_and_loads_without_the_weights(
    runs_dir, fm_data, tmp_path
):
    """Issue 34's tabular sweep `models: {choice: [MITRA, TABICL, GBM]}` offline from make_data.py's random-weight
    folders; TabICL (zero-shot only in AutoGluon 1.6.3) reads the checkpoint file in its folder, and its saved model
    keeps the network (tabicl's pickle would read model_path again on load), so both folders can go."""
    pytest.importorskip("tabicl", reason="TabICL needs autogluon.tabular[tabicl] (the local backend's foundation extra)")
    pytest.importorskip("einx", reason="Mitra needs autogluon.tabular[mitra] (the local backend's foundation extra)")
    sweep_served_and_reloaded(fm_data, tmp_path, ["MITRA", "TABICL", "GBM"], FOUNDATION_SWEEP, "TABICL")


def test_a_tabdpt_sweep_from_its_random_weight_folder_is_served_and_loads_without_it(runs_dir, fm_data, tmp_path):
    """TabDPT (zero-shot only in AutoGluon 1.6.3) reads the .safetensors file in the folder
    `TABDPT.model_weight_path` names; its estimator pickles the network, so the folder can go."""
    pytest.importorskip("tabdpt", reason="TabDPT needs autogluon.tabular[tabdpt] (the local backend's foundation extra)")
    sweep_served_and_reloaded(fm_data, tmp_path, ["TABDPT", "GBM"], TABDPT_SWEEP, "TABDPT")


def test_the_seeds_preset_trial_shows_its_models_board_and_says_what_it_leaves_out(runs_dir, fm_data, tmp_path):
    """`trials --trial N --models` of a forecasting trial exited 4 ("only tabular"): the preset trial's models were only
    in trial.log. Its log also listed Chronos-2 as excluded while fitting Chronos2, and left Toto2 out silently."""
    sweep = f"""    - presets: medium_quality
      Chronos2.model_path: {fm_data / "checkpoints" / "chronos2-tiny"}
      time_limit: 60
"""
    run = cli("run", str(write_spec(tmp_path, fm_data, "", sweep=sweep)))
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    job_id = run.stdout.split()[1].rstrip(":")
    shown = cli("trials", job_id, "--trial", "0", "--models")
    assert shown.returncode == 0, shown.stderr
    header, *rows = shown.stdout.splitlines()
    assert "score_val (MASE)" in header
    log = cli("logs", job_id, "--trial", "0").stdout
    trained = re.search(r"Models trained: \[(.*)\]", log).group(1)  # what fit in the time limit on a busy machine
    assert sorted(r.split()[0] for r in rows) == sorted(m.strip(" '") for m in trained.split(",")), shown.stdout
    assert len(rows) >= 2 and sum("(best)" in r for r in rows) == 1
    board = json.loads(cli("trials", job_id, "--trial", "0", "--models", "--format", "json").stdout)
    assert board["eval_metric"] == "MASE" and all(m["score_val"] > 0 for m in board["models"])  # MASE, not -MASE
    assert "Excluded model types: ['Chronos', 'Toto', 'Toto2']" in log
    assert "[cloudauto] medium_quality's Toto2 is left out: no weights given" in log


def test_make_data_writes_the_foundation_folders_without_progress_bars(tmp_path):
    """`python job_specs/make_data.py foundation` printed Hugging Face's "Writing model shards" bars among its lines."""
    import os

    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_DISABLE_PROGRESS_BARS"}
    script = Path(__file__).resolve().parents[2] / "job_specs" / "make_data.py"
    made = subprocess.run(
        [sys.executable, str(script), "foundation", "--out", str(tmp_path)], capture_output=True, text=True, timeout=600, env=env
    )
    assert made.returncode == 0, made.stderr[-2000:]
    said = made.stdout + made.stderr
    assert "Writing model shards" not in said and "it/s]" not in said, said[-2000:]
    assert "wrote " in made.stdout and (tmp_path / "checkpoints" / "chronos2-tiny" / "config.json").is_file()
