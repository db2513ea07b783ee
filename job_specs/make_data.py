"""Make the example data sets from scikit-learn's bundled copies (no download).

    python job_specs/make_data.py [iris|diabetes|bike|digits|all] [--out job_specs/data]

Splits and seeds are fixed so every run writes the same files (iris: 80/20 split,
random_state 42, as in seed 000).
"""

from __future__ import annotations

import argparse
from pathlib import Path

HERE = Path(__file__).resolve().parent


def iris(out: Path) -> None:
    from sklearn.datasets import load_iris
    from sklearn.model_selection import train_test_split

    frame = load_iris(as_frame=True).frame
    train, test = train_test_split(frame, test_size=0.2, random_state=42)
    _write(out / "iris", train=train, test=test)


def diabetes(out: Path) -> None:
    from sklearn.datasets import load_diabetes
    from sklearn.model_selection import train_test_split

    frame = load_diabetes(as_frame=True).frame
    train, test = train_test_split(frame, test_size=0.2, random_state=42)
    _write(out / "diabetes", train=train, test=test)


def bike(out: Path, *, stations: int = 3, days: int = 28, horizon: int = 48) -> None:
    """Hourly rentals per station: daily and weekly cycles, a trend, weather noise."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(42)
    hours = pd.date_range("2026-01-05", periods=days * 24, freq="h")
    rows = []
    for station in range(stations):
        base = 40 + 15 * station
        hour, dow = hours.hour.to_numpy(), hours.dayofweek.to_numpy()
        commute = np.exp(-((hour - 8) ** 2) / 4) + np.exp(-((hour - 18) ** 2) / 5)
        weekend = np.where(dow >= 5, 0.6, 1.0)
        trend = 1 + 0.002 * np.arange(len(hours))
        mean = base * (0.3 + 1.7 * commute) * weekend * trend
        count = rng.poisson(mean * rng.lognormal(0, 0.1, len(hours)))
        rows.append(pd.DataFrame({"station": f"s{station}", "timestamp": hours, "count": count}))
    frame = pd.concat(rows, ignore_index=True)
    cut = hours[-horizon]
    _write(out / "bike", train=frame[frame.timestamp < cut], test=frame)


def digits(out: Path) -> None:
    """8x8 digit images as PNG files plus a CSV of (image path, label), AutoGluon's image format."""
    import numpy as np
    import pandas as pd
    from PIL import Image
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    folder = out / "digits"
    (folder / "images").mkdir(parents=True, exist_ok=True)
    paths = []
    for i, image in enumerate(data.images):
        path = folder / "images" / f"{i:04d}.png"
        Image.fromarray((image * 255 / 16).astype(np.uint8)).resize((32, 32)).save(path)
        paths.append(f"images/{i:04d}.png")
    frame = pd.DataFrame({"image": paths, "label": data.target})
    train, test = train_test_split(frame, test_size=0.2, random_state=42, stratify=frame.label)
    _write(folder, train=train, test=test)


def _write(folder: Path, **frames) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in frames.items():
        path = folder / f"{name}.csv"
        frame.to_csv(path, index=False)
        print(f"wrote {path} ({len(frame)} rows)")


MAKERS = {"iris": iris, "diabetes": diabetes, "bike": bike, "digits": digits}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("which", nargs="*", default=["all"], choices=[*MAKERS, "all"])
    parser.add_argument("--out", type=Path, default=HERE / "data")
    args = parser.parse_args()
    for name in MAKERS if "all" in args.which else args.which:
        MAKERS[name](args.out)


if __name__ == "__main__":
    main()
