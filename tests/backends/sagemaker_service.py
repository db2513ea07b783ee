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

import datetime
import json
import math
import os
import random
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Optional

from botocore.awsrequest import AWSResponse

ROLE = "arn:aws:iam::123456789012:role/cloudauto-test"


def sagemaker_strings(request: dict, pick: int = 0) -> dict[str, str]:
    """The hyperparameters SageMaker would hand a training job: static ones plus one bound of every range."""
    definition = request["TrainingJobDefinition"]
    hps = dict(definition["StaticHyperParameters"])
    ranges = request["HyperParameterTuningJobConfig"]["ParameterRanges"]
    for r in ranges.get("CategoricalParameterRanges", []):
        hps[r["Name"]] = r["Values"][min(pick, len(r["Values"]) - 1)]
    for r in ranges.get("IntegerParameterRanges", []):
        hps[r["Name"]] = r["MaxValue"] if pick else r["MinValue"]
    for r in ranges.get("ContinuousParameterRanges", []):
        hps[r["Name"]] = r["MaxValue"] if pick else r["MinValue"]
    return hps


def _at(seconds: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(seconds, tz=datetime.timezone.utc)


class FakeTuner:
    """The part of the SageMaker tuning service that moto does not play."""

    def __init__(self, session: Any):
        self.session = session
        self.summaries: dict[str, list[dict]] = {}
        self.stopped: list[str] = []
        session.events.register("before-call.sagemaker.ListTrainingJobsForHyperParameterTuningJob", self._list)
        session.events.register("before-call.sagemaker.StopHyperParameterTuningJob", self._stop)
        session.events.register("after-call.sagemaker.DescribeHyperParameterTuningJob", self._describe)
        session.events.register("after-call.sagemaker.ListHyperParameterTuningJobs", self._list_jobs)
        session.events.register("after-call.sagemaker.DescribeTrainingJob", self._describe_training_job)
        self.final_metrics: dict[str, list[dict]] = {}  # per training job: what SageMaker keeps as FinalMetricDataList
        self.running: set[str] = set()  # tuning jobs that stay InProgress until stopped (moto completes them at once)

    # before-call handlers get the serialised request; a response they return is the call's answer
    def _list(self, params, **_):
        name = json.loads(params["body"])["HyperParameterTuningJobName"]
        return AWSResponse(None, 200, {}, None), {"TrainingJobSummaries": self.summaries.get(name, [])}

    def _describe(self, parsed, **_):
        name = parsed.get("HyperParameterTuningJobName")
        if name in self.running:
            parsed["HyperParameterTuningJobStatus"] = "Stopped" if name in self.stopped else "InProgress"

    def _list_jobs(self, parsed, **_):
        for summary in parsed.get("HyperParameterTuningJobSummaries", []):
            self._describe(summary)  # the summary carries the name and the status, as a description does

    def _describe_training_job(self, parsed, **_):
        """moto's FinalMetricDataList is a `train:progress` stand-in; SageMaker's holds each metric definition's last value."""
        name = parsed.get("TrainingJobName")
        if name in self.final_metrics:
            parsed["FinalMetricDataList"] = self.final_metrics[name]

    def _stop(self, params, **_):
        self.stopped.append(json.loads(params["body"])["HyperParameterTuningJobName"])
        return AWSResponse(None, 200, {}, None), {}

    def run_trial(
        self, tuning_job: str, pick: int, *, log: str, model: bytes, status: str = "Completed", ran_for: float = 0.0
    ) -> str:
        """One training job as SageMaker would run it: hyperparameters, log, model artifact, objective."""
        sm, s3, logs = (self.session.client(n) for n in ("sagemaker", "s3", "logs"))
        described = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=tuning_job)
        definition = described["TrainingJobDefinition"]
        request = {
            "TrainingJobDefinition": definition,
            "HyperParameterTuningJobConfig": described["HyperParameterTuningJobConfig"],
        }
        hps = sagemaker_strings(request, pick=pick)
        static = definition["StaticHyperParameters"]
        name = f"{tuning_job[:20]}-{len(self.summaries.get(tuning_job, [])):03d}-{uuid.uuid4().hex[:6]}"
        sm.create_training_job(
            TrainingJobName=name,
            HyperParameters=hps,
            AlgorithmSpecification=definition["AlgorithmSpecification"],
            RoleArn=definition["RoleArn"],
            InputDataConfig=definition.get("InputDataConfig", []),
            OutputDataConfig=definition["OutputDataConfig"],
            ResourceConfig=definition["ResourceConfig"],
            StoppingCondition=definition["StoppingCondition"],
        )
        artifact = sm.describe_training_job(TrainingJobName=name)["ModelArtifacts"]["S3ModelArtifacts"]
        bucket, _, key = artifact[len("s3://") :].partition("/")
        s3.put_object(Bucket=bucket, Key=key, Body=model)
        group = "/aws/sagemaker/TrainingJobs"
        try:
            logs.create_log_group(logGroupName=group)
        except logs.exceptions.ResourceAlreadyExistsException:
            pass
        stream = f"{name}/algo-1-{int(time.time())}"
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
        now = int(time.time() * 1000)
        events = [{"timestamp": now + i, "message": line} for i, line in enumerate(log.splitlines()) if line]
        logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)
        metric = objective_definition(request)
        values = [float(m.group(1)) for m in re.finditer(metric["Regex"], log)]
        summary = {
            "TrainingJobName": name,
            "TrainingJobArn": f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{name}",
            # datetimes, as botocore parses the service's timestamps
            "CreationTime": _at(time.time() - ran_for),
            "TrainingStartTime": _at(time.time() - ran_for),
            **({} if status == "InProgress" else {"TrainingEndTime": _at(time.time())}),
            "TrainingJobStatus": status,
            "TunedHyperParameters": {k: v for k, v in hps.items() if k not in static},
        }
        self.final_metrics[name] = [  # every metric definition's last value in the log, as SageMaker records it
            {"MetricName": d["Name"], "Value": float(found[-1]), "Timestamp": _at(time.time())}
            for d in definition["AlgorithmSpecification"].get("MetricDefinitions", [])
            for found in [re.findall(d["Regex"], log)]
            if found
        ]
        if values:  # SageMaker's final objective value is the metric's last emitted value
            summary["FinalHyperParameterTuningJobObjectiveMetric"] = {"MetricName": metric["Name"], "Value": values[-1]}
        if status == "Failed":
            summary["FailureReason"] = "AlgorithmError: the script exited with status 1"
        self.summaries.setdefault(tuning_job, []).append(summary)
        return name


# What a SageMaker serving container does around the handler, for a probe script run in a process of its own:
# the repacked model's code/ on the path, sagemaker-inference's Transformer, and the model server's context (its
# request headers, the response's content type and status). The probe sets `served` (the extracted model.tar.gz).
INFERENCE_TOOLKIT = """sys.path.insert(0, served + "/code")
from sagemaker_inference.transformer import Transformer


class Context:
    def __init__(self, headers):
        self.system_properties = {"model_dir": served}
        self.request_processor = [self]
        self.headers, self.status, self.content_type = headers, 200, None

    def get_request_properties(self):
        return self.headers

    def set_response_content_type(self, index, value):
        self.content_type = value

    def set_response_status(self, code, phrase):
        self.status = code


transformer = Transformer()
"""


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


def s3_channels(s3: Any, request: dict, dest: Path) -> dict[str, Path]:
    """Each channel downloaded as SageMaker downloads an S3Prefix channel: a prefix ending in / keeps the
    objects' paths under it, a key names one file."""
    out: dict[str, Path] = {}
    for channel in request["TrainingJobDefinition"].get("InputDataConfig", []):
        uri = channel["DataSource"]["S3DataSource"]["S3Uri"]
        bucket, _, key = uri[len("s3://") :].partition("/")
        folder = dest / channel["ChannelName"]
        folder.mkdir(parents=True)
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key):
            for obj in page.get("Contents", []):
                relative = obj["Key"][len(key) :] if key.endswith("/") else Path(obj["Key"]).name
                target = folder / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read())
        out[channel["ChannelName"]] = folder
    return out


def opt_ml(root: Path, request: dict, hyperparameters: dict[str, str], channels: dict[str, list[Path]] | dict[str, Path]) -> Path:
    """The /opt/ml tree SageMaker lays out before it starts the container's `train` (channels: files, or a folder each)."""
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
        if isinstance(files, Path):
            shutil.copytree(files, folder)
            continue
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


__all__ = [
    "INFERENCE_TOOLKIT",
    "ROLE",
    "FakeTuner",
    "sagemaker_strings",
    "decoded_by_the_toolkit",
    "objective_definition",
    "opt_ml",
    "s3_channels",
    "run_train",
    "training_job_hyperparameters",
    "tuned_values",
]


QUOTA_INSTANCES = ("ml.m5.large", "ml.m5.xlarge", "ml.m5.2xlarge", "ml.c5.xlarge", "ml.g4dn.xlarge", "ml.g5.2xlarge")
QUOTA_USAGES = ("training job usage", "spot training job usage", "endpoint usage", "transform job usage")


class FakeQuotas:
    """Service Quotas for SageMaker (moto's service-quotas lists vpc's only): the account's quotas, set per test.

    `values` maps a quota's name to its figure; `denied` answers every call with AccessDeniedException, as for a
    caller without servicequotas:ListServiceQuotas.
    """

    def __init__(self, session: Any, value: float = 20.0):
        self.values = {f"{i} for {u}": value for i in QUOTA_INSTANCES for u in QUOTA_USAGES}
        self.denied = False
        for operation in ("ListServiceQuotas", "ListAWSDefaultServiceQuotas"):
            session.events.register(f"before-call.service-quotas.{operation}", self._list)

    @staticmethod
    def code(name: str) -> str:
        import hashlib

        return "L-" + hashlib.sha256(name.encode()).hexdigest()[:8].upper()

    def _list(self, params, **_):
        if json.loads(params["body"]).get("ServiceCode") != "sagemaker":
            return None
        if self.denied:
            error = {
                "Error": {"Code": "AccessDeniedException", "Message": "not authorized to perform servicequotas:ListServiceQuotas"}
            }
            return AWSResponse(None, 400, {}, None), error
        quotas = [
            {"ServiceCode": "sagemaker", "QuotaName": name, "QuotaCode": self.code(name), "Value": value, "Unit": "None"}
            for name, value in self.values.items()
        ]
        return AWSResponse(None, 200, {}, None), {"Quotas": quotas}


class FakeSimulator:
    """IAM's policy simulator (moto lacks SimulatePrincipalPolicy) over the role's inline policies as moto keeps them:
    an action on a resource is allowed when an Allow statement names both (IAM's wildcards), else implicitDeny."""

    def __init__(self, session: Any):
        self.iam = session.client("iam")
        self.denied = False
        session.events.register("before-call.iam.SimulatePrincipalPolicy", self._simulate)

    def _statements(self, role: str) -> list[dict]:
        found = []
        for name in self.iam.list_role_policies(RoleName=role)["PolicyNames"]:
            document = self.iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
            statements = document["Statement"]
            found += [statements] if isinstance(statements, dict) else statements
        return found

    def _simulate(self, params, **_):
        import fnmatch

        body = params["body"]
        if self.denied:
            error = {"Error": {"Code": "AccessDenied", "Message": "not authorized to perform iam:SimulatePrincipalPolicy"}}
            return AWSResponse(None, 403, {}, None), error
        role = body["PolicySourceArn"].rsplit("/", 1)[-1]
        actions = [v for k, v in sorted(body.items()) if k.startswith("ActionNames.member.")]
        resources = [v for k, v in body.items() if k.startswith("ResourceArns.member.")] or ["*"]
        statements = [s for s in self._statements(role) if s.get("Effect") == "Allow"]

        def listed(value):
            return [value] if isinstance(value, str) else list(value)

        results = []
        for action in actions:
            allowed = all(
                any(
                    any(fnmatch.fnmatchcase(action, a) for a in listed(s["Action"]))
                    and any(fnmatch.fnmatchcase(resource, r) for r in listed(s["Resource"]))
                    for s in statements
                )
                for resource in resources
            )
            results.append({"EvalActionName": action, "EvalDecision": "allowed" if allowed else "implicitDeny"})
        return AWSResponse(None, 200, {}, None), {"EvaluationResults": results, "IsTruncated": False}


def objective_definition(request: dict) -> dict:
    """The tuning job's objective among its metric definitions (a spec's other metrics and test scores have their own)."""
    objective = request["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"]["MetricName"]
    (found,) = [
        m for m in request["TrainingJobDefinition"]["AlgorithmSpecification"]["MetricDefinitions"] if m["Name"] == objective
    ]
    return found
