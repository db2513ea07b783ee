"""What SageMaker does for one training job of a tuning job, so the toolkit can take over from there.

The service's part (not a package, so written here from its documented contract): pick one
value of every tuned range, write `/opt/ml/input/config/hyperparameters.json` with every value a
string (the static ones as the request holds them), `inputdataconfig.json`, `resourceconfig.json`,
and the channels' files under `/opt/ml/input/data/<channel>`. Everything after that — reading
the config, decoding the hyperparameters, fetching and unpacking `sagemaker_submit_directory`,
installing its requirements, running `sagemaker_program` — is `sagemaker-training`'s own code,
started as the DLC's `train` command starts it.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Optional


def tuned_values(request: dict, rng: random.Random) -> dict[str, str]:
    """One value per tuned range, as the strings SageMaker hands a training job."""
    ranges = request["HyperParameterTuningJobConfig"].get("ParameterRanges", {})
    values: dict[str, str] = {}
    for r in ranges.get("CategoricalParameterRanges", []):
        values[r["Name"]] = rng.choice(r["Values"])
    for r in ranges.get("IntegerParameterRanges", []):
        values[r["Name"]] = str(rng.randint(int(r["MinValue"]), int(r["MaxValue"])))
    for r in ranges.get("ContinuousParameterRanges", []):
        low, high = float(r["MinValue"]), float(r["MaxValue"])
        if r.get("ScalingType") == "Logarithmic":
            value = math.exp(rng.uniform(math.log(low), math.log(high)))
        else:
            value = rng.uniform(low, high)
        values[r["Name"]] = repr(min(max(value, low), high))
    return values


def training_job_hyperparameters(request: dict, rng: Optional[random.Random] = None, **chosen: str) -> dict[str, str]:
    hps = dict(request["TrainingJobDefinition"]["StaticHyperParameters"])
    hps.update(tuned_values(request, rng or random.Random(0)))
    hps.update(chosen)
    assert all(isinstance(v, str) for v in hps.values())  # the service's contract: strings only
    return hps


def opt_ml(root: Path, request: dict, hyperparameters: dict[str, str], channels: dict[str, list[Path]]) -> Path:
    """The /opt/ml tree SageMaker lays out before it starts the container's `train`."""
    config = root / "input" / "config"
    config.mkdir(parents=True)
    (config / "hyperparameters.json").write_text(json.dumps(hyperparameters))
    declared = {c["ChannelName"] for c in request["TrainingJobDefinition"].get("InputDataConfig", [])}
    assert set(channels) <= declared, f"channels {sorted(channels)} are not all in the request ({sorted(declared)})"
    (config / "inputdataconfig.json").write_text(
        json.dumps(
            {
                c: {"TrainingInputMode": "File", "S3DistributionType": "FullyReplicated", "RecordWrapperType": "None"}
                for c in channels
            }
        )
    )
    resource = request["TrainingJobDefinition"]["ResourceConfig"]
    (config / "resourceconfig.json").write_text(
        json.dumps(
            {
                "current_host": "algo-1",
                "current_instance_type": resource["InstanceType"],
                "current_group_name": "homogeneousCluster",
                "hosts": ["algo-1"],
                "instance_groups": [
                    {"instance_group_name": "homogeneousCluster", "instance_type": resource["InstanceType"], "hosts": ["algo-1"]}
                ],
                "network_interface_name": "eth0",
            }
        )
    )
    for role, files in channels.items():
        folder = root / "input" / "data" / role
        folder.mkdir(parents=True)
        for file in files:
            shutil.copyfile(file, folder / file.name)
    for sub in ("model", "output/data", "code"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    return root


def run_train(root: Path, *, env: Optional[dict[str, str]] = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """The DLC's `train` command: sagemaker-training's trainer, with /opt/ml at `root`.

    SM_STUDIO_LOCAL_MODE is the toolkit's own switch for a host without the cluster's DNS
    (`algo-1` resolves only inside SageMaker).
    """
    train = Path(sys.executable).with_name("train")
    assert train.is_file(), "sagemaker-training is not installed (pip install 'cloudauto-sagemaker[test]')"
    child = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": str(root),
        "SAGEMAKER_BASE_DIR": str(root),
        "SM_STUDIO_LOCAL_MODE": "True",
        "TRAINING_JOB_NAME": "cloudauto-test-001",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_NO_INDEX": "1",  # the requirements must already be met: nothing is downloaded in a test
        **{k: v for k, v in os.environ.items() if k.startswith("AWS_")},
        **(env or {}),
    }
    return subprocess.run([str(train)], env=child, capture_output=True, text=True, timeout=timeout, cwd=root)


def decoded_by_the_toolkit(root: Path) -> dict[str, Any]:
    """What the toolkit hands the entry script as SM_HPS for this tree."""
    code = "import json, sagemaker_training.environment as e; print(json.dumps(e.Environment().hyperparameters))"
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={"PATH": "/usr/bin:/bin", "SAGEMAKER_BASE_DIR": str(root), "HOME": str(root)},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


__all__ = ["decoded_by_the_toolkit", "opt_ml", "run_train", "training_job_hyperparameters", "tuned_values"]
