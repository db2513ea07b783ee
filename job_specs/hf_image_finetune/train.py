"""Seed 004's fine-tune with the Hugging Face Trainer: a ViT on scikit-learn's digits, reported each epoch.

The seed fine-tunes `google/vit-base-patch16-224-in21k` on Food-101. Here the images are the
8x8 digits scaled to 32x32 RGB, and the ViT is a tiny one built from a `ViTConfig` with random
weights, so nothing is downloaded; `--checkpoint` names a hub model or a folder to start from
instead. `CloudautoCallback` reports each evaluation (eval_accuracy, eval_loss) through
`cloudauto.report` and ends training when the sweep's policy stops the trial. Run by itself:
    python train.py --learning-rate 0.001 --epochs 6
"""

from __future__ import annotations

import argparse
import os

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from transformers import Trainer, TrainingArguments, ViTConfig, ViTForImageClassification

from cloudauto.integrations.huggingface import CloudautoCallback


class Digits(torch.utils.data.Dataset):
    """pixel_values as the ViT takes them (3 x 32 x 32, normalised), and labels."""

    def __init__(self, images: np.ndarray, labels: np.ndarray):
        x = torch.tensor(images, dtype=torch.float32).view(-1, 1, 8, 8) / 16.0
        x = torch.nn.functional.interpolate(x, size=32, mode="nearest").repeat(1, 3, 1, 1)
        self.x, self.y = (x - 0.5) / 0.5, torch.tensor(labels)

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"pixel_values": self.x[i], "labels": self.y[i]}


def accuracy(prediction) -> dict[str, float]:
    return {"accuracy": float((prediction.predictions.argmax(-1) == prediction.label_ids).mean())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--checkpoint", help="a hub model or folder to fine-tune (default: a tiny ViT, random weights)")
    args = parser.parse_args()
    torch.manual_seed(0)
    digits = load_digits()
    x_train, x_val, y_train, y_val = train_test_split(
        digits.data, digits.target, test_size=0.2, random_state=0, stratify=digits.target
    )
    labels = {str(i): i for i in range(10)}
    if args.checkpoint:
        model = ViTForImageClassification.from_pretrained(
            args.checkpoint,
            num_labels=10,
            label2id=labels,
            id2label={i: n for n, i in labels.items()},
            ignore_mismatched_sizes=True,
        )
    else:
        config = ViTConfig(
            image_size=32,
            patch_size=8,
            num_channels=3,
            hidden_size=48,
            num_hidden_layers=2,
            num_attention_heads=4,
            intermediate_size=96,
            num_labels=10,
            label2id=labels,
            id2label={i: n for n, i in labels.items()},
        )
        model = ViTForImageClassification(config)
    output = os.environ.get("CLOUDAUTO_OUTPUT_DIR") or os.environ.get("SM_MODEL_DIR") or "vit-digits"
    callback = CloudautoCallback()
    trainer = Trainer(
        model=model,
        args=TrainingArguments(
            output_dir=output,
            learning_rate=args.learning_rate,
            num_train_epochs=args.epochs,
            per_device_train_batch_size=args.batch_size,
            per_device_eval_batch_size=256,
            eval_strategy="epoch",
            save_strategy="no",
            logging_strategy="epoch",
            warmup_ratio=0.1,
            report_to=[],
            disable_tqdm=True,
            remove_unused_columns=False,  # the seed's setting: pixel_values are not a text model's columns
        ),
        train_dataset=Digits(x_train, y_train),
        eval_dataset=Digits(x_val, y_val),
        compute_metrics=accuracy,
        callbacks=[callback],
    )
    trainer.train()
    trainer.save_model(output)
    ended = f"stopped by the sweep's policy ({callback.reason})" if callback.stopped else "all epochs ran"
    print(f"training ended: {ended}", flush=True)


if __name__ == "__main__":
    main()
