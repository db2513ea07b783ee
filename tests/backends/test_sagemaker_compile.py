"""SageMaker compile: the request passes botocore's validation, moto accepts it, ranges are exact."""

from __future__ import annotations

import json

import boto3
import botocore.session
import pytest
from botocore.validate import ParamValidator

import cloudauto
from cloudauto.backend import CompileError
from cloudauto.reporting import LINE_FORMAT
from cloudauto.spec.errors import SpecError
from cloudauto.spec.models import Engine

from ..conftest import BASE, EXAMPLES, ROOT

_MODEL = botocore.session.get_session().get_service_model("sagemaker")


def valid(request: dict) -> dict:
    shape = _MODEL.operation_model("CreateHyperParameterTuningJob").input_shape
    report = ParamValidator().validate(request, shape)
    assert not report.has_errors(), report.generate_report()
    return request


def compile_text(text: str, *, strict: bool = False) -> cloudauto.CompiledJob:
    return cloudauto.compile(cloudauto.JobSpec.from_yaml(text), backend="sagemaker", strict=strict)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_compiles_and_moto_accepts_it(path, aws, example_images):
    from cloudauto.runtime.autogluon_trial import UNTRAINABLE_TASKS

    spec = cloudauto.JobSpec.from_file(path)
    if spec.task in UNTRAINABLE_TASKS and spec.engine is not Engine.COMMAND:  # before any GPU starts
        with pytest.raises(CompileError, match=f"task: sagemaker: task {spec.task.value}: .*needs mmdet and mmcv"):
            cloudauto.compile(spec, backend="sagemaker")
        return
    if path.name == "digits_images.yaml":  # Azure AutoML's parameter names: SageMaker trains AutoMM, which names them otherwise
        with pytest.raises(CompileError, match="'learning_rate' does not map .* did you mean 'optim.lr'"):
            cloudauto.compile(spec, backend="sagemaker")
        return
    job = cloudauto.compile(spec, backend="sagemaker")
    request = valid(job.native)
    assert len(request["HyperParameterTuningJobName"]) <= 32
    client = boto3.client("sagemaker")
    client.create_hyper_parameter_tuning_job(**request)
    described = client.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=request["HyperParameterTuningJobName"])
    sent = request["HyperParameterTuningJobConfig"]
    got = described["HyperParameterTuningJobConfig"]
    assert got["Strategy"] == sent["Strategy"]
    assert got["HyperParameterTuningJobObjective"] == sent["HyperParameterTuningJobObjective"]
    assert got.get("ParameterRanges", {}) == sent["ParameterRanges"]


# a script of your own: any parameter name goes (an AutoGluon space is checked against AutoGluon's names)
SCRIPT = """\
name: demo-job
task: custom
engine: command
metric: {name: accuracy, goal: maximize}
command: {run: 'python train.py', code: .}
"""
EVERY = (
    SCRIPT
    + """\
sweep:
  sampling: random
  seed: 3
  space:
    u: {uniform: [0.1, 0.5]}
    lu: {loguniform: [0.0001, 0.1]}
    az: "loguniform(-4.6051702, -2.3025851)"
    ri: {randint: [2, 10]}
    qu: {quniform: [8, 64, 8]}
    ql: {qloguniform: [1, 1000, 10]}
    ch: "choice(600, 800)"
    fixed: medium_quality
"""
)


def test_every_distribution_maps_exactly():
    request = valid(compile_text(EVERY).native)
    config = request["HyperParameterTuningJobConfig"]
    ranges = config["ParameterRanges"]
    continuous = {r["Name"]: r for r in ranges["ContinuousParameterRanges"]}
    assert continuous["u"] == {"Name": "u", "MinValue": "0.1", "MaxValue": "0.5", "ScalingType": "Linear"}
    assert continuous["lu"] == {"Name": "lu", "MinValue": "0.0001", "MaxValue": "0.1", "ScalingType": "Logarithmic"}
    assert float(continuous["az"]["MinValue"]) == pytest.approx(0.01) and continuous["az"]["ScalingType"] == "Logarithmic"
    assert continuous["ql"]["ScalingType"] == "Logarithmic"
    integer = {r["Name"]: r for r in ranges["IntegerParameterRanges"]}
    assert integer["ri"] == {
        "Name": "ri",
        "MinValue": "2",
        "MaxValue": "9",
        "ScalingType": "Linear",
    }  # SageMaker's max is inclusive
    assert integer["qu"] == {"Name": "qu", "MinValue": "1", "MaxValue": "8", "ScalingType": "Linear"}  # k, value = 8k
    assert ranges["CategoricalParameterRanges"] == [{"Name": "ch", "Values": ["600", "800"]}]  # JSON, as the SDK writes
    static = request["TrainingJobDefinition"]["StaticHyperParameters"]
    assert static["fixed"] == '"medium_quality"'  # JSON-encoded, as the SageMaker SDK encodes static values
    decode = json.loads(static["cloudauto_space"])["params"]
    assert decode["qu"] == {"type": "quniform", "q": 8, "low": 8, "high": 64}
    assert decode["ch"] == {"type": "choice", "values": [600, 800]}
    assert config["Strategy"] == "Random" and config["RandomSeed"] == 3
    assert config["TrainingJobEarlyStoppingType"] == "Off"


def test_objective_and_metric_definition_match_the_report_line():
    import re

    request = compile_text(BASE.replace("accuracy", "log_loss")).native
    objective = request["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"]
    assert objective == {"Type": "Minimize", "MetricName": "cloudauto:log_loss"}
    (definition,) = request["TrainingJobDefinition"]["AlgorithmSpecification"]["MetricDefinitions"]
    assert definition["Name"] == "cloudauto:log_loss"
    line = LINE_FORMAT.format(name="log_loss", value="0.1234", step=2)
    assert re.search(definition["Regex"], line).group(1) == "0.1234"


def test_the_specs_other_metrics_get_metric_definitions_of_their_own():
    import re

    request = compile_text(BASE + "metrics: [f1, AUC_weighted]\n").native
    definitions = request["TrainingJobDefinition"]["AlgorithmSpecification"]["MetricDefinitions"]
    assert [d["Name"] for d in definitions] == ["cloudauto:accuracy", "cloudauto:val_f1", "cloudauto:val_roc_auc"]
    line = LINE_FORMAT.format(name="val_roc_auc", value="0.875", step=3)
    assert [bool(re.search(d["Regex"], line)) for d in definitions] == [False, False, True]


def test_alternative_subspaces_flatten_with_a_subspace_choice():
    # the tutorial's sub-spaces, trained by a script of your own (AutoGluon trials do not train detectors)
    spec = cloudauto.JobSpec.from_file(
        next(p for p in EXAMPLES if p.name == "fridge_objects_od.yaml"),
        overrides=["engine=command", "command={run: 'python train.py --lr ${{sweep.learning_rate}}', code: .}"],
    )
    job = cloudauto.compile(spec, backend="sagemaker")
    ranges = job.native["HyperParameterTuningJobConfig"]["ParameterRanges"]
    categorical = {r["Name"]: r["Values"] for r in ranges["CategoricalParameterRanges"]}
    assert categorical["cloudauto_subspace"] == ["0", "1"]
    continuous = {r["Name"]: (r["MinValue"], r["MaxValue"]) for r in ranges["ContinuousParameterRanges"]}
    assert continuous == {"0.learning_rate": ("0.0001", "0.01"), "1.learning_rate": ("0.0001", "0.001")}
    static = job.native["TrainingJobDefinition"]["StaticHyperParameters"]
    assert (static["0.model_name"], static["1.model_name"]) == ('"yolov5"', '"fasterrcnn_resnet50_fpn"')
    assert any("learning_rate differs between sub-spaces" in w.message for w in job.warnings)
    assert job.native["TrainingJobDefinition"]["ResourceConfig"]["InstanceType"] == "ml.g5.12xlarge"
    assert "/pytorch-training:" in job.native["TrainingJobDefinition"]["AlgorithmSpecification"]["TrainingImage"]
    assert "-gpu-" in job.native["TrainingJobDefinition"]["AlgorithmSpecification"]["TrainingImage"]


def test_policies_become_auto_with_a_warning_or_fail_under_strict():
    text = SCRIPT + "sweep:\n  space: {lr: {uniform: [0.1, 0.2]}}\n  early_termination: {policy: bandit, slack_factor: 0.1}\n"
    job = compile_text(text)
    assert job.native["HyperParameterTuningJobConfig"]["TrainingJobEarlyStoppingType"] == "Auto"
    assert any(w.field == "sweep.early_termination" and "Auto" in w.message for w in job.warnings)
    with pytest.raises(CompileError, match="an error under --strict"):
        compile_text(text, strict=True)


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ("sweep:\n  space: {lr: {normal: [0, 1]}}\n", "lr: SageMaker parameter ranges are bounded"),
        (
            "sweep:\n  sampling: grid\n  space:\n    - {a: {choice: [" + ", ".join(str(i) for i in range(30)) + "]}}\n"
            "    - {b: {choice: [3]}}\n",
            "runs 31 points here, one value each of the categorical cloudauto_grid_point; SageMaker's "
            "CategoricalParameterRange takes at most 30 values",
        ),
        ("sweep:\n  sampling: grid\n  space: {n: {randint: [1, 4]}}\n", "Grid strategy takes categorical parameters only"),
        ("sweep:\n  space: {c: {choice: [" + ", ".join(str(i) for i in range(31)) + "]}}\n", "at most 30 values per categorical"),
        ("sweep:\n  space: {" + ", ".join(f"p{i}: {{uniform: [0, 1]}}" for i in range(31)) + "}\n", "at most 30"),
        ("limits:\n  timeout: 60\n", "MaxRuntimeInSeconds is 120"),
        ("compute:\n  instance_type: Standard_NC24s_v3\n", "not a SageMaker instance type"),
    ],
)
def test_what_sagemaker_cannot_express_is_a_compile_error(extra, words):
    with pytest.raises(CompileError) as info:
        compile_text(SCRIPT + extra)
    assert words in str(info.value)


def test_data_outside_s3_needs_an_s3_copy():
    text = BASE.replace("./train.csv", "azureml://datastores/ws/paths/train/")
    with pytest.raises(CompileError, match="backends.sagemaker.data.train"):
        compile_text(text)
    job = compile_text(text + "backends:\n  sagemaker: {data: {train: s3://my-bucket/train/}}\n")
    (channel,) = job.native["TrainingJobDefinition"]["InputDataConfig"]
    assert channel["DataSource"]["S3DataSource"]["S3Uri"] == "s3://my-bucket/train/"


def test_local_data_is_staged_under_the_bucket_and_named_in_the_notes():
    job = compile_text(BASE + "backends:\n  sagemaker: {bucket: my-bucket, role: 'arn:aws:iam::123456789012:role/sm'}\n")
    (channel,) = job.native["TrainingJobDefinition"]["InputDataConfig"]
    assert channel["DataSource"]["S3DataSource"]["S3Uri"].startswith("s3://my-bucket/cloudauto/demo-job-")
    assert any("./train.csv ->" in n for n in job.notes)
    assert not any(w.field.startswith("backends.sagemaker") for w in job.warnings)


def test_training_images_are_dlc_tags_that_exist_or_pinned():
    from cloudauto_sagemaker.images import IMAGES

    released = {f"{i.repository}:{i.tag}" for i in IMAGES}
    job = compile_text(BASE)
    base = job.native["TrainingJobDefinition"]["AlgorithmSpecification"]["TrainingImage"]
    assert base == "763104351884.dkr.ecr.us-east-1.amazonaws.com/autogluon:1.6.3-cpu-amzn2023"  # the release local runs
    assert any("AutoGluon 1.6.3 DLC" in n and "checked 2026-12-01" in n for n in job.notes)
    gpu = compile_text(BASE + "compute: {instance_type: ml.g5.2xlarge}\n").native
    assert gpu["TrainingJobDefinition"]["AlgorithmSpecification"]["TrainingImage"].endswith("/autogluon:1.6.3-cu133-amzn2023")
    older = compile_text(BASE + "backends:\n  sagemaker: {framework_version: '1.5', region: eu-west-1}\n")
    image = older.native["TrainingJobDefinition"]["AlgorithmSpecification"]["TrainingImage"]
    assert image == "763104351884.dkr.ecr.eu-west-1.amazonaws.com/autogluon-training:1.5.0-cpu-py312-ubuntu22.04"
    assert image.split("/", 1)[1] in released
    assert any("framework_version" in w.path and "1.6.3" in w.message for w in older.warnings)  # versions differ: said
    hk = compile_text(BASE + "backends:\n  sagemaker: {region: ap-east-1}\n").native
    assert hk["TrainingJobDefinition"]["AlgorithmSpecification"]["TrainingImage"].startswith("871362719292.dkr.ecr.ap-east-1.")
    ecr = "123456789012.dkr.ecr.us-east-1.amazonaws.com/my-ag:1.6.3"
    pinned = compile_text(BASE + f"backends:\n  sagemaker: {{image_uri: '{ecr}'}}\n").native
    assert pinned["TrainingJobDefinition"]["AlgorithmSpecification"]["TrainingImage"] == ecr
    with pytest.raises(CompileError, match="not an Amazon ECR image"):
        compile_text(BASE + "backends:\n  sagemaker: {image_uri: 'my.registry/ag:1'}\n")
    with pytest.raises(CompileError, match="no autogluon 0.9 DLC image is known"):
        compile_text(BASE + "backends:\n  sagemaker: {framework_version: '0.9'}\n")


def test_a_command_job_runs_the_pytorch_training_dlc_and_refuses_images_sagemaker_cannot_pull():
    from importlib.metadata import version

    from cloudauto_sagemaker.images import IMAGES

    spec = cloudauto.JobSpec.from_file(ROOT / "job_specs" / "torch_digits" / "spec.yaml")
    job = cloudauto.compile(spec, backend="sagemaker")
    definition = job.native["TrainingJobDefinition"]
    image = definition["AlgorithmSpecification"]["TrainingImage"]
    repository_tag = image.split("/", 1)[1]
    assert repository_tag.startswith("pytorch-training:") and repository_tag in {f"{i.repository}:{i.tag}" for i in IMAGES}
    assert image.startswith("763104351884.dkr.ecr.us-east-1.amazonaws.com/")
    assert any(f"torch {version('torch')} is installed here" in n for n in job.notes)
    assert json.loads(definition["StaticHyperParameters"]["sagemaker_program"]) == "cloudauto_entry.py"
    hub = spec.model_copy(update={"command": spec.command.model_copy(update={"image": "pytorch/pytorch:2.5.1-runtime"})})
    with pytest.raises(CompileError, match="not an Amazon ECR image.*backends.sagemaker.image_uri"):
        cloudauto.compile(hub, backend="sagemaker")


def test_job_names_are_deterministic_per_spec():
    one, two = compile_text(BASE).native, compile_text(BASE).native
    other = compile_text(BASE.replace("accuracy", "f1_macro")).native
    assert one["HyperParameterTuningJobName"] == two["HyperParameterTuningJobName"] != other["HyperParameterTuningJobName"]


HALVING = SCRIPT + (
    "sweep:\n  seed: 3\n  space: {lr: {uniform: [0.1, 0.2]}}\n"
    "  early_termination: {policy: POLICY, min_resource: 2, max_resource: 50, resource: epoch}\n"
)


@pytest.mark.parametrize("policy", ["asha", "hyperband"])
def test_asha_and_hyperband_are_sagemakers_hyperband_strategy_field_by_field(policy, aws):
    job = compile_text(HALVING.replace("POLICY", policy))
    config = valid(job.native)["HyperParameterTuningJobConfig"]
    assert config["Strategy"] == "Hyperband"
    assert config["StrategyConfig"] == {"HyperbandStrategyConfig": {"MinResource": 2, "MaxResource": 50}}
    assert config["TrainingJobEarlyStoppingType"] == "Off"  # Hyperband stops trials itself; the API wants Off
    assert config["RandomSeed"] == 3
    assert config["ResourceLimits"] == {"MaxParallelTrainingJobs": 1, "MaxNumberOfTrainingJobs": 10}
    assert not [w for w in job.warnings if w.field == "sweep.early_termination"]
    note = next(n for n in job.notes if n.startswith("early termination:"))
    assert f"{policy} is SageMaker's Hyperband strategy" in note and "MinResource 2, MaxResource 50 epochs" in note
    assert "counts each objective value a trial emits" in note and "chooses its own reduction factor and brackets" in note
    client = boto3.client("sagemaker")
    client.create_hyper_parameter_tuning_job(**job.native)
    described = client.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=job.native["HyperParameterTuningJobName"])
    assert described["HyperParameterTuningJobConfig"]["Strategy"] == "Hyperband"
    assert described["HyperParameterTuningJobConfig"]["TrainingJobEarlyStoppingType"] == "Off"


def test_hyperband_limits_and_what_sagemaker_does_not_take():
    with pytest.raises(SpecError, match="MaxResource limit") as info:  # the spec's bound on every backend
        compile_text(HALVING.replace("POLICY", "asha").replace("max_resource: 50", "max_resource: 20001"))
    assert "sweep.early_termination.max_resource: max_resource is 20,001; it is at most 20,000" in str(info.value)
    assert compile_text(HALVING.replace("POLICY", "asha").replace("max_resource: 50", "max_resource: 20000"))
    text = HALVING.replace("POLICY", "hyperband").replace("resource: epoch", "resource: epoch, reduction_factor: 4, brackets: 2")
    text = text.replace("  seed: 3\n", "  seed: 3\n  sampling: bayesian\n")
    job = compile_text(text)
    (warning,) = [w for w in job.warnings if w.field == "sweep.early_termination" and "hyperband policy" in w.message]
    assert "reduction_factor 4, brackets 2, sampling: bayesian apply on the local backend only" in warning.message
    with pytest.raises(CompileError, match=r"hyperband policy: .*\(an error under --strict\)"):
        compile_text(text, strict=True)


@pytest.mark.parametrize(
    ("policy", "strategy", "words"),
    [
        ("", "Hyperband", "strategy: Hyperband needs its resource bounds"),
        (
            "  early_termination: {policy: bandit, slack_factor: 0.1}\n",
            "Hyperband",
            "the bandit policy cannot run beside it",
        ),
        (
            "  early_termination: {policy: asha, max_resource: 9}\n",
            "Bayesian",
            "strategy: Bayesian disagrees with sweep.early_termination policy asha",
        ),
    ],
)
def test_a_strategy_override_must_agree_with_the_policy(policy, strategy, words):
    text = SCRIPT + "sweep:\n  space: {lr: {uniform: [0.1, 0.2]}}\n" + policy + f"backends:\n  sagemaker: {{strategy: {strategy}}}\n"
    with pytest.raises(CompileError) as info:
        compile_text(text)
    assert words in str(info.value) and "backends.sagemaker.strategy" in str(info.value)
    if strategy == "Bayesian":  # the override that agrees
        job = compile_text(text.replace("Bayesian", "Hyperband"))
        assert job.native["HyperParameterTuningJobConfig"]["StrategyConfig"]["HyperbandStrategyConfig"]["MaxResource"] == 9


def test_the_primary_metrics_test_score_has_a_metric_definition_the_entrys_line_matches():
    import re

    text = BASE.replace("  label: target\n", "  label: target\n  test: ./test.csv\n").replace("accuracy", "f1")
    request = compile_text(text + "metrics: [roc_auc]\n").native
    definitions = request["TrainingJobDefinition"]["AlgorithmSpecification"]["MetricDefinitions"]
    names = [d["Name"] for d in definitions]
    assert names == ["cloudauto:f1", "cloudauto:test_f1", "cloudauto:val_roc_auc", "cloudauto:test_roc_auc"], names
    line = LINE_FORMAT.format(name="test_f1", value="0.8125", step=1)  # the entry reports result.metrics' test_ keys
    assert [d["Name"] for d in definitions if re.search(d["Regex"], line)] == ["cloudauto:test_f1"]
    assert re.search(definitions[1]["Regex"], line).group(1) == "0.8125"


def test_gpus_on_an_instance_without_one_is_refused_at_its_line(spec_file):
    """compute.gpus: 1 on ml.m5.xlarge compiled in silence, and every paid trial set `device: cuda` on a CPU: refused
    now at compute.gpus' line, naming the instance and the fix; a GPU instance or gpus: 0 compiles."""
    from cloudauto.cli.specs import EXIT_BACKEND

    base = BASE + "compute:\n  instance_type: ml.m5.xlarge\n  gpus: 1\n"
    spec = cloudauto.JobSpec.from_file(spec_file(base))
    with pytest.raises(CompileError) as info:
        cloudauto.compile(spec, backend="sagemaker")
    assert info.value.exit_code == EXIT_BACKEND == 2
    (issue,) = [spec.locate(i) for i in info.value.issues]
    assert issue.path == ("compute", "gpus") and issue.line == 9, issue
    assert "ml.m5.xlarge (compute.instance_type) has no GPU" in issue.message, issue.message
    assert "set compute.instance_type to a GPU one" in issue.message
    assert "ml.g5.2xlarge" in issue.message and "gpus: 0" in issue.message
    # the instance named in backends.sagemaker.instance_type (it wins over compute's) is the one named
    over = BASE + "compute: {gpus: 2}\nbackends:\n  sagemaker: {instance_type: ml.c5.4xlarge}\n"
    with pytest.raises(CompileError, match=r"ml.c5.4xlarge \(backends.sagemaker.instance_type\) has no GPU .*set backends.sagemaker.instance_type to"):
        cloudauto.compile(cloudauto.JobSpec.from_file(spec_file(over)), backend="sagemaker")
    # no instance named: the CPU default is named, with what to set
    bare = BASE + "compute: {gpus: 1}\n"
    with pytest.raises(CompileError, match=r"ml.m5.2xlarge \(the default for this task\) has no GPU .*set compute.instance_type to"):
        cloudauto.compile(cloudauto.JobSpec.from_file(spec_file(bare)), backend="sagemaker")
    for fine in (base.replace("ml.m5.xlarge", "ml.g5.2xlarge"), base.replace("gpus: 1", "gpus: 0")):
        job = cloudauto.compile(cloudauto.JobSpec.from_file(spec_file(fine)), backend="sagemaker")
        assert not any("GPU" in w.message for w in job.warnings)


def test_a_foundation_model_spec_says_why_its_instance_has_a_gpu(spec_file):
    """SageMaker chose ml.g5.2xlarge for a foundation-model sweep and said so only in the image and cost notes: a note
    says why, as Azure's compile does; a spec that names its instance is told nothing of a default."""
    fm = """\
name: fm
task: time_series_forecasting
data: {train: ./train.csv, label: y, timestamp: ts, prediction_length: 4}
metric: MASE
sweep:
  space:
    models: {choice: [Chronos2, ETS]}
"""
    job = cloudauto.compile(cloudauto.JobSpec.from_file(spec_file(fm)), backend="sagemaker")
    (note,) = [n for n in job.notes if n.startswith("foundation models train and serve best on GPUs")]
    assert "ml.g5.2xlarge" in note and "compute.instance_type" in note and "cloudauto deploy --instance-type" in note
    named = cloudauto.compile(
        cloudauto.JobSpec.from_file(spec_file(fm + "compute: {instance_type: ml.m5.2xlarge}\n")), backend="sagemaker"
    )
    (note,) = [n for n in named.notes if n.startswith("foundation models train and serve best on GPUs")]
    assert "ml.m5.2xlarge (compute.instance_type) has no GPU" in note
    plain = cloudauto.compile(cloudauto.JobSpec.from_file(spec_file(BASE)), backend="sagemaker")
    assert not any("GPU" in n for n in plain.notes)


def test_two_specs_whose_job_names_share_a_stem_keep_both_requests(spec_file, tmp_path):
    """Job names keep the first 21 characters of the spec's name: two specs named alike past them share the stem, and
    the request's cloudauto:spec tag tells them apart; a marker line naming a request that is gone is dropped."""
    from cloudauto.runtime.bundle import compiled_outputs

    out = tmp_path / "out"
    names = ("forecast-of-the-stores-east", "forecast-of-the-stores-west")
    written = [
        cloudauto.compile(cloudauto.JobSpec.from_file(spec_file(BASE.replace("demo-job", n), f"{n}.yaml")), backend="sagemaker")
        .write(out)[0]
        .name
        for n in names
    ]
    assert written[0][:21] == written[1][:21] and written[0] != written[1]
    assert compiled_outputs(out) == set(written) and all((out / w).is_file() for w in written)
    # the east spec edited: its earlier request goes, the west one stays; a listed name that is gone goes from the marker
    gone = f"{written[0][:21]}-0123456789.tuning-job.json"
    (out / ".cloudauto-compiled").write_text((out / ".cloudauto-compiled").read_text() + gone + "\n")
    edited = cloudauto.JobSpec.from_file(spec_file(BASE.replace("demo-job", names[0]) + "limits: {max_trials: 2}\n", "e.yaml"))
    job = cloudauto.compile(edited, backend="sagemaker")
    (new,) = [p.name for p in job.write(out)]
    assert [p.name for p in job.removed] == [written[0]]
    assert compiled_outputs(out) == {new, written[1]} == {p.name for p in out.glob("*.json")}
