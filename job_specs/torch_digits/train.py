"""Train a small CNN on scikit-learn's 8x8 digits and report validation accuracy per epoch.

CPU and torch only (no torchvision). `cloudauto.report` sends each epoch's accuracy to
whatever backend runs the trial. Each epoch is saved in `cloudauto.checkpoint_dir()`, and a
trial that finds its own checkpoint there (it was interrupted: spot capacity reclaimed, a
node preempted, a local run resumed) carries on after the last saved epoch. Run by itself it
just prints:
    python train.py --lr 0.003 --width 16 --optimizer adam --epochs 12
"""

from __future__ import annotations

import argparse

import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

from cloudauto import checkpoint_dir, report


def build(width: int) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, width, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(width, 2 * width, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(2 * width * 16, 64),
        nn.ReLU(),
        nn.Linear(64, 10),
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--optimizer", choices=["sgd", "adam", "adamw"], default="adam")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()

    torch.manual_seed(0)
    digits = load_digits()
    x = torch.tensor(digits.images / 16.0, dtype=torch.float32).unsqueeze(1)
    y = torch.tensor(digits.target)
    x_train, x_val, y_train, y_val = train_test_split(x, y, test_size=0.2, random_state=42, stratify=y)

    model = build(args.width)
    optimizers = {
        "sgd": lambda p: torch.optim.SGD(p, lr=args.lr, momentum=0.9),
        "adam": lambda p: torch.optim.Adam(p, lr=args.lr),
        "adamw": lambda p: torch.optim.AdamW(p, lr=args.lr),
    }
    opt = optimizers[args.optimizer](model.parameters())
    loss_fn = nn.CrossEntropyLoss()
    saved = checkpoint_dir() / "last.pt"
    first = 1
    if saved.is_file():  # this trial ran before and was interrupted: carry on from its last epoch
        state = torch.load(saved, weights_only=False)
        if state["args"] == vars(args):
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            torch.set_rng_state(state["rng"])
            first = state["epoch"] + 1
            print(f"resumed from epoch {state['epoch']} ({saved})", flush=True)
    for epoch in range(first, args.epochs + 1):
        model.train()
        for i in torch.randperm(len(x_train)).split(args.batch_size):
            opt.zero_grad()
            loss_fn(model(x_train[i]), y_train[i]).backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            accuracy = (model(x_val).argmax(1) == y_val).float().mean().item()
        print(f"epoch {epoch}: val_accuracy {accuracy:.4f}", flush=True)
        state = {"epoch": epoch, "args": vars(args), "model": model.state_dict(), "optimizer": opt.state_dict()}
        torch.save({**state, "rng": torch.get_rng_state()}, saved.with_suffix(".tmp"))
        saved.with_suffix(".tmp").replace(saved)  # a run killed while saving leaves the previous epoch whole
        if report(val_accuracy=accuracy, step=epoch).should_stop:
            print(f"stopped early by the sweep's policy after epoch {epoch}", flush=True)
            return


if __name__ == "__main__":
    main()
