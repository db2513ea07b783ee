"""The framework callbacks in real local sweeps: a tiny BERT under the Hugging Face Trainer and a small
LightningModule each train offline (random weights, made here), report every evaluation, and the weak
trial's training ends itself when the median rule stops it (the script runs on after `train()`)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

import cloudauto
from cloudauto.backend import JobStatus, TrialStatus

pytestmark = pytest.mark.slow

HF_SCRIPT = """
    import argparse, os
    import torch
    from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments
    from cloudauto.integrations.huggingface import CloudautoCallback

    parser = argparse.ArgumentParser()
    parser.add_argument("--quality", type=float)
    parser.add_argument("--epochs", type=int)
    args = parser.parse_args()
    torch.manual_seed(0)
    config = BertConfig(vocab_size=40, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=16, num_labels=2)

    class Rows(torch.utils.data.Dataset):
        def __init__(self):
            g = torch.Generator().manual_seed(1)
            self.ids = torch.randint(0, 40, (32, 8), generator=g)
            self.labels = torch.randint(0, 2, (32,), generator=g)
        def __len__(self):
            return 32
        def __getitem__(self, i):
            return {"input_ids": self.ids[i], "labels": self.labels[i]}

    evaluations = []
    def compute_metrics(prediction):  # a real accuracy, and a score the test controls through --quality
        evaluations.append(1)
        accuracy = float((prediction.predictions.argmax(-1) == prediction.label_ids).mean())
        return {"accuracy": accuracy, "score": args.quality * len(evaluations) / args.epochs}

    callback = CloudautoCallback()
    trainer = Trainer(
        model=BertForSequenceClassification(config),
        args=TrainingArguments(output_dir=os.environ["CLOUDAUTO_OUTPUT_DIR"], num_train_epochs=args.epochs,
                               eval_strategy="epoch", save_strategy="no", logging_strategy="no", report_to=[],
                               per_device_train_batch_size=8, use_cpu=True, disable_tqdm=True),
        train_dataset=Rows(), eval_dataset=Rows(), compute_metrics=compute_metrics, callbacks=[callback],
    )
    trainer.train()
    print(f"training ended: stopped={callback.stopped} after {len(evaluations)} evaluations", flush=True)
"""

LIGHTNING_SCRIPT = """
    import argparse
    import lightning.pytorch as pl
    import torch
    from cloudauto.integrations.lightning import CloudautoCallback

    parser = argparse.ArgumentParser()
    parser.add_argument("--quality", type=float)
    parser.add_argument("--epochs", type=int)
    args = parser.parse_args()
    torch.manual_seed(0)
    x = torch.randn(64, 4)
    y = (x.sum(1) > 0).long()
    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=16)

    class Small(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.layer = torch.nn.Linear(4, 2)
        def training_step(self, batch, _):
            return torch.nn.functional.cross_entropy(self.layer(batch[0]), batch[1])
        def validation_step(self, batch, _):
            self.log("val_loss", torch.nn.functional.cross_entropy(self.layer(batch[0]), batch[1]))
            self.log("val_score", args.quality * (self.current_epoch + 1) / args.epochs)
        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    callback = CloudautoCallback()
    trainer = pl.Trainer(max_epochs=args.epochs, accelerator="cpu", logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, callbacks=[callback])
    trainer.fit(Small(), data, data)
    print(f"training ended: stopped={callback.stopped} after {trainer.current_epoch} epochs", flush=True)
"""


KERAS_SCRIPT = """
    import argparse, os
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras
    import numpy as np
    from cloudauto.integrations.keras import CloudautoCallback

    parser = argparse.ArgumentParser()
    parser.add_argument("--quality", type=float)
    parser.add_argument("--epochs", type=int)
    args = parser.parse_args()
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
    y = (x.sum(axis=1) > 0).astype("int64")

    class Score(keras.callbacks.Callback):  # a score the test controls, in the logs the next callback reads
        def on_epoch_end(self, epoch, logs=None):
            logs["val_score"] = args.quality * (epoch + 1) / args.epochs

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    callback = CloudautoCallback()
    model.fit(x, y, validation_data=(x, y), epochs=args.epochs, batch_size=16, verbose=0, callbacks=[Score(), callback])
    print(f"training ended: stopped={callback.stopped} after {len(model.history.epoch)} epochs", flush=True)
"""


def _spec(tmp_path: Path, script: str, metric: str) -> cloudauto.JobSpec:
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "train.py").write_text(textwrap.dedent(script))
    (tmp_path / "spec.yaml").write_text(
        textwrap.dedent(f"""\
        name: callbacks
        task: custom
        engine: command
        command: {{run: "python train.py --quality ${{{{sweep.quality}}}} --epochs 6", code: code}}
        metric: {{name: {metric}, goal: maximize}}
        sweep:
          sampling: grid
          space: {{quality: {{choice: [0.9, 0.1]}}}}
          early_termination: {{policy: median_stopping, evaluation_interval: 1, delay_evaluation: 2}}
        limits: {{max_trials: 2, max_concurrent_trials: 1}}
        """)
    )
    return cloudauto.JobSpec.from_file(tmp_path / "spec.yaml")


@pytest.mark.parametrize(
    ("script", "metric", "others"),
    [
        (HF_SCRIPT, "eval_score", "eval_accuracy"),
        (LIGHTNING_SCRIPT, "val_score", "val_loss"),
        (KERAS_SCRIPT, "val_score", "val_accuracy"),
    ],
    ids=["transformers", "lightning", "keras"],
)
def test_a_framework_sweep_reports_each_evaluation_and_the_weak_trial_ends_itself(runs_dir, tmp_path, script, metric, others):
    job = cloudauto.submit(_spec(tmp_path, script, metric), backend="local")
    assert job.wait(progress=False, timeout=600) is JobStatus.COMPLETED, job.logs(0)[-3000:]
    good, weak = job.trials()
    assert good.status is TrialStatus.COMPLETED and good.objective == pytest.approx(0.9)
    assert [round(m.value, 4) for m in good.metrics] == [round(0.9 * s / 6, 4) for s in range(1, 7)]
    log = job.logs(good.number)
    assert f"name={others} value=" in log  # every metric of an evaluation is reported, not only the spec's
    assert weak.status is TrialStatus.TERMINATED and "median stopping" in weak.error
    weak_log = job.logs(weak.number)
    assert "training ended: stopped=True" in weak_log  # the framework ended its loop; the script ran on to the end
    assert len(weak.metrics) < 6


def test_seed_004_as_a_spec_fine_tunes_a_vit_and_the_median_rule_stops_the_weak_rate(runs_dir):
    from ..conftest import ROOT

    spec = cloudauto.JobSpec.from_file(
        ROOT / "job_specs" / "hf_image_finetune" / "spec.yaml",
        overrides=["sweep.space={learning_rate: {choice: [0.003, 0.00001]}, epochs: {choice: [10]}}"],
    )
    job = cloudauto.submit(spec, backend="local")
    assert job.wait(progress=False, timeout=600) is JobStatus.COMPLETED, job.logs(0)[-3000:]
    good, weak = job.trials()
    assert good.status is TrialStatus.COMPLETED and len(good.metrics) == 10 and good.objective > 0.4  # ten classes
    assert "training ended: all epochs ran" in job.logs(good.number)
    assert weak.status is TrialStatus.TERMINATED and len(weak.metrics) < 10
    assert "training ended: stopped by the sweep's policy" in job.logs(weak.number)
