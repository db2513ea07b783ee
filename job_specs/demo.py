"""The README's `make demo`: the iris spec end to end on the local backend.

Sweep (four real AutoGluon trials, two at a time) -> leaderboard -> the best trial's test
score -> a local endpoint serving its model -> the test rows scored over HTTP and checked
against the predictor in this process -> the endpoint deleted.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

import cloudauto

HERE = Path(__file__).resolve().parent


def main() -> None:
    spec = cloudauto.JobSpec.from_file(HERE / "iris.yaml")
    job = cloudauto.submit(spec, backend="local")
    print(f"submitted {job.id}")
    job.wait()
    print(job.leaderboard().to_string(index=False))
    best = job.best_trial()
    print(
        f"\nbest trial {best.number}: {best.params} validation accuracy {best.objective:.4f}, "
        f"test accuracy {best.scores['test_accuracy']:.4f}"
    )

    endpoint = job.deploy(name="iris-demo")
    try:
        test = pd.read_csv(HERE / "data" / "iris" / "test.csv")
        rows = test.drop(columns=["target"])
        served = endpoint.score(rows)
        from autogluon.tabular import TabularPredictor

        local = TabularPredictor.load(str(Path(best.artifacts["dir"]) / "model")).predict(rows)
        same = (served["prediction"].to_numpy() == local.to_numpy()).all()
        accuracy = (served["prediction"] == test["target"]).mean()
        print(
            f"endpoint {endpoint.url}: scored {len(rows)} test rows, accuracy {accuracy:.4f}; "
            f"predictions {'equal' if same else 'DIFFER FROM'} TabularPredictor.predict"
        )
        if not same:
            raise SystemExit(1)
    finally:
        endpoint.delete()


if __name__ == "__main__":
    main()
