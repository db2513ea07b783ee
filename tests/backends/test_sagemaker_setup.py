"""`cloudauto setup / teardown / doctor` for SageMaker and submit's preflight, against the moto server on loopback (issue 31).

moto plays IAM, S3 and STS. Its Service Quotas lists vpc's quotas only and it has no IAM policy simulator, so
FakeQuotas and FakeSimulator (sagemaker_service.py) answer those two on the session the backend uses.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import boto3
import pytest
from click.testing import CliRunner
from cloudauto_sagemaker.setup import POLICY_NAME, TAG_SETUP, permissions_policy, trust_policy

from cloudauto.cli import main as cli

from ..conftest import ROOT
from .sagemaker_service import FakeQuotas, FakeSimulator

ACCOUNT = "123456789012"  # moto's


def _names() -> tuple[str, str]:
    tag = uuid.uuid4().hex[:8]
    return f"cloudauto-test-setup-{tag}", f"cloudauto-test-role-{tag}"


def _invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


def _exports(stdout: str) -> dict[str, str]:
    return dict(line[len("export ") :].split("=", 1) for line in stdout.splitlines() if line.startswith("export "))


def test_setup_twice_makes_the_bucket_and_role_once_and_teardown_removes_them(aws):
    """Run with the default names: what a first user types."""
    iam, s3 = boto3.client("iam"), boto3.client("s3")
    first = _invoke("setup", "sagemaker")
    assert first.exit_code == 0, first.output
    bucket, role = f"cloudauto-{ACCOUNT}-us-east-1", "cloudauto-sagemaker-us-east-1"
    assert f"bucket {bucket}: created in us-east-1 (public access blocked, encrypted with SSE-S3" in first.stderr
    assert f"role {role}: created" in first.stderr
    assert _exports(first.stdout) == {
        "SAGEMAKER_ROLE": f"arn:aws:iam::{ACCOUNT}:role/{role}",  # printed as it is: the command is for it
        "SAGEMAKER_BUCKET": bucket,
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    # read back from IAM and S3
    made = iam.get_role(RoleName=role)["Role"]
    assert made["AssumeRolePolicyDocument"] == trust_policy()
    assert made["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "sagemaker.amazonaws.com"}
    assert iam.list_role_policies(RoleName=role)["PolicyNames"] == [POLICY_NAME]
    assert iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"] == []  # no managed policy (FullAccess)
    policy = iam.get_role_policy(RoleName=role, PolicyName=POLICY_NAME)["PolicyDocument"]
    assert policy == permissions_policy(
        partition="aws", region="us-east-1", account=ACCOUNT, bucket=bucket, dlc_account="763104351884"
    )
    resources = json.dumps(policy)
    assert f"arn:aws:s3:::{bucket}/*" in resources and "arn:aws:s3:::*" not in resources  # this bucket only
    assert "arn:aws:ecr:us-east-1:763104351884:repository/autogluon" in resources
    assert {t["Key"]: t["Value"] for t in iam.list_role_tags(RoleName=role)["Tags"]}[TAG_SETUP] == "sagemaker"
    blocked = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert blocked == dict.fromkeys(("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"), True)
    rule = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=bucket)["TagSet"]}["cloudauto:creator"] == "cloudauto"

    second = _invoke("setup", "sagemaker")
    assert second.exit_code == 0, second.output
    assert f"bucket {bucket}: exists (made by cloudauto setup), nothing new" in second.stderr
    assert f"role {role}: exists (made by cloudauto setup), nothing new" in second.stderr
    assert "created" not in second.stderr
    assert _exports(second.stdout) == _exports(first.stdout)
    assert iam.get_role(RoleName=role)["Role"]["RoleId"] == made["RoleId"]  # the same role, not made again

    gone = _invoke("teardown", "sagemaker")
    assert gone.exit_code == 0, gone.output
    assert f"role {role}: removed" in gone.output and f"bucket {bucket}: removed (it was empty)" in gone.output
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_role(RoleName=role)
    assert bucket not in {b["Name"] for b in s3.list_buckets()["Buckets"]}
    again = _invoke("teardown", "sagemaker")  # nothing left to remove: said, exit 0
    assert again.exit_code == 0 and f"role {role}: none" in again.output and f"bucket {bucket}: none" in again.output


def test_teardown_leaves_what_setup_did_not_make_and_a_bucket_with_objects_without_force(aws):
    iam, s3 = boto3.client("iam"), boto3.client("s3")
    theirs_bucket, theirs_role = _names()
    s3.create_bucket(Bucket=theirs_bucket)
    s3.put_object(Bucket=theirs_bucket, Key="their-data.csv", Body=b"a,b\n1,2\n")
    iam.create_role(RoleName=theirs_role, AssumeRolePolicyDocument=json.dumps(trust_policy()))
    used = _invoke("setup", "sagemaker", "--bucket", theirs_bucket, "--role-name", theirs_role)
    assert used.exit_code == 0, used.output
    assert f"bucket {theirs_bucket}: exists and was not made by cloudauto setup: used as it is" in used.stderr
    assert f"role {theirs_role}: exists and was not made by cloudauto setup: left as it is" in used.stderr
    assert iam.list_role_policies(RoleName=theirs_role)["PolicyNames"] == []  # not changed
    left = _invoke("teardown", "sagemaker", "--bucket", theirs_bucket, "--role-name", theirs_role, "--force")
    assert left.exit_code == 0, left.output
    assert "not made by cloudauto setup, left as it is" in left.output and "removed" not in left.output
    iam.get_role(RoleName=theirs_role)
    assert s3.get_object(Bucket=theirs_bucket, Key="their-data.csv")["Body"].read() == b"a,b\n1,2\n"

    bucket, role = _names()
    assert _invoke("setup", "sagemaker", "--bucket", bucket, "--role-name", role).exit_code == 0
    s3.put_object(Bucket=bucket, Key="cloudauto/job/output/model.tar.gz", Body=b"a model")
    refused = _invoke("teardown", "sagemaker", "--bucket", bucket, "--role-name", role)
    assert refused.exit_code == 64, refused.output
    assert f"bucket {bucket} holds 1 objects" in refused.output and "nothing was removed" in refused.output
    assert "--force" in refused.output and "Traceback" not in refused.output
    iam.get_role(RoleName=role)  # a refusal removes nothing
    assert s3.get_object(Bucket=bucket, Key="cloudauto/job/output/model.tar.gz")["Body"].read() == b"a model"
    forced = _invoke("teardown", "sagemaker", "--bucket", bucket, "--role-name", role, "--force")
    assert forced.exit_code == 0, forced.output
    assert f"bucket {bucket}: removed with its 1 objects (--force)" in forced.output and f"role {role}: removed" in forced.output
    buckets = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert bucket not in buckets and theirs_bucket in buckets


def test_setup_print_is_a_cloudformation_template_and_calls_no_aws(monkeypatch, tmp_path):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # any AWS call would fail
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    printed = _invoke("setup", "sagemaker", "--print", "--region", "eu-west-1")
    assert printed.exit_code == 0, printed.output
    template = json.loads(printed.stdout)
    role = template["Resources"]["Role"]["Properties"]
    assert role["AssumeRolePolicyDocument"] == trust_policy()
    text = json.dumps(role["Policies"][0]["PolicyDocument"])
    assert "arn:${AWS::Partition}:ecr:${AWS::Region}:763104351884:repository/autogluon" in text
    assert "arn:${AWS::Partition}:s3:::${Bucket}/*" in text
    bucket = template["Resources"]["Bucket"]["Properties"]
    assert all(bucket["PublicAccessBlockConfiguration"].values()) and bucket["BucketEncryption"]
    assert {"Key": TAG_SETUP, "Value": "sagemaker"} in bucket["Tags"]
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)
    no_region = _invoke("setup", "sagemaker", "--print")
    assert no_region.exit_code == 64 and "--region" in no_region.output


def _iris(tmp_path: Path) -> Path:
    from job_specs import make_data

    make_data.iris(tmp_path / "data")
    spec = tmp_path / "iris.yaml"
    spec.write_text((ROOT / "job_specs" / "iris.yaml").read_text())
    return spec


@pytest.fixture
def made(sm_session, monkeypatch):
    """`setup sagemaker` with names of this test's own; SAGEMAKER_ROLE and SAGEMAKER_BUCKET as it prints them."""
    session, tuner = sm_session
    bucket, role = _names()
    done = _invoke("setup", "sagemaker", "--bucket", bucket, "--role-name", role)
    assert done.exit_code == 0, done.output
    for name, value in _exports(done.stdout).items():
        monkeypatch.setenv(name, value)
    return session, tuner.quotas, bucket, role


SWEEP = (
    "--set",
    "limits.max_trials=4",
    "--set",
    "limits.max_concurrent_trials=2",
    "--set",
    "compute.instance_type=ml.m5.2xlarge",
)


def _jobs(session) -> list[str]:
    page = session.client("sagemaker").list_hyper_parameter_tuning_jobs(MaxResults=100)
    return [s["HyperParameterTuningJobName"] for s in page["HyperParameterTuningJobSummaries"]]


def test_doctor_and_submit_refuse_a_quota_below_the_jobs_need_and_pass_one_that_covers_it(tmp_path, made):
    session, quotas, bucket, role = made
    spec = _iris(tmp_path)
    quota = "ml.m5.2xlarge for training job usage"
    quotas.values[quota] = 1.0  # the job runs 2 trials at once on 1 instance each
    checked = _invoke("doctor", str(spec), "-b", "sagemaker", "--set", f"name=iris-{uuid.uuid4().hex[:6]}", *SWEEP)
    assert checked.exit_code == 3, checked.output
    line = f"problem  quota: the account's Service Quota '{quota}' ({FakeQuotas.code(quota)}) is 1 instance in us-east-1; this needs 2"
    assert line in checked.output
    assert (
        f"aws service-quotas request-service-quota-increase --service-code sagemaker --quota-code {FakeQuotas.code(quota)} "
        "--desired-value 2 --region us-east-1" in checked.output
    )
    assert f"ok       role: {role} exists and SageMaker may assume it" in checked.output
    assert f"ok       bucket: {bucket} exists in us-east-1 and is writable" in checked.output
    assert "warning  role permissions: not checked" in checked.output  # moto has no policy simulator
    assert "ok       images: training 763104351884.dkr.ecr.us-east-1.amazonaws.com/autogluon:" in checked.output

    before = _jobs(session)
    name = f"iris-{uuid.uuid4().hex[:6]}"
    refused = _invoke("submit", str(spec), "-b", "sagemaker", "--set", f"name={name}", *SWEEP)
    assert refused.exit_code == 3, refused.output
    assert "sagemaker: the job would fail; nothing was uploaded or started" in refused.output and line in refused.output
    assert _jobs(session) == before
    assert "Contents" not in session.client("s3").list_objects_v2(Bucket=bucket)  # nothing uploaded

    skipped = _invoke("submit", str(spec), "-b", "sagemaker", "--set", f"name={name}-n", "--no-preflight", *SWEEP)
    assert skipped.exit_code == 0, skipped.output
    assert "preflight: skipped (--no-preflight)" in skipped.output

    quotas.values[quota] = 2.0
    passed = _invoke("doctor", str(spec), "-b", "sagemaker", "--set", f"name={name}", *SWEEP)
    assert passed.exit_code == 0, passed.output
    assert f"ok       quota: '{quota}' is 2 instances in us-east-1, at least the 2 needed" in passed.output
    submitted = _invoke("submit", str(spec), "-b", "sagemaker", "--set", f"name={name}", *SWEEP)
    assert submitted.exit_code == 0, submitted.output
    assert len(_jobs(session)) == len(before) + 2
    definition = session.client("sagemaker").describe_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=[j for j in _jobs(session) if j.startswith(f"{name}-")][0]
    )["TrainingJobDefinition"]
    assert definition["RoleArn"] == f"arn:aws:iam::{ACCOUNT}:role/{role}"  # what setup printed, read from SAGEMAKER_ROLE
    assert definition["OutputDataConfig"]["S3OutputPath"].startswith(f"s3://{bucket}/")  # and SAGEMAKER_BUCKET


def test_doctor_reads_the_roles_permissions_from_the_simulator_and_warns_where_it_may_not(tmp_path, made):
    session, quotas, bucket, role = made
    simulator = FakeSimulator(session)
    spec = str(_iris(tmp_path))
    allowed = _invoke("doctor", spec, "-b", "sagemaker")
    assert allowed.exit_code == 0, allowed.output
    assert f"ok       role permissions: {role} may read and write the bucket, pull the images and write logs" in allowed.output

    iam = session.client("iam")
    policy = iam.get_role_policy(RoleName=role, PolicyName=POLICY_NAME)["PolicyDocument"]
    policy["Statement"][0]["Action"] = ["s3:GetObject"]  # a role that cannot write its models
    iam.put_role_policy(RoleName=role, PolicyName=POLICY_NAME, PolicyDocument=json.dumps(policy))
    lacking = _invoke("doctor", spec, "-b", "sagemaker")
    assert lacking.exit_code == 3
    assert f"problem  role permissions: role {role} lacks s3:PutObject on arn:aws:s3:::{bucket}/cloudauto/" in lacking.output
    again = _invoke("setup", "sagemaker", "--bucket", bucket, "--role-name", role)  # setup puts it right
    assert f"role {role}: exists (made by cloudauto setup), updated its policy" in again.stderr
    assert _invoke("doctor", spec, "-b", "sagemaker").exit_code == 0

    simulator.denied, quotas.denied = True, True  # a caller without iam:SimulatePrincipalPolicy nor Service Quotas
    warned = _invoke("doctor", spec, "-b", "sagemaker")
    assert warned.exit_code == 0, warned.output
    assert "warning  role permissions: not checked: these credentials may not use iam:SimulatePrincipalPolicy" in warned.output
    assert "warning  quota: 'ml.m5.2xlarge for training job usage' not read: these credentials may not use" in warned.output
    submitted = _invoke("submit", spec, "-b", "sagemaker", "--set", f"name=iris-{uuid.uuid4().hex[:6]}")
    assert submitted.exit_code == 0, submitted.output  # a check without permission warns, never refuses
    assert "preflight: warning  quota:" in submitted.output


def test_doctor_names_a_missing_role_a_role_sagemaker_may_not_assume_a_bucket_elsewhere_and_an_unknown_release(
    tmp_path, made, monkeypatch
):
    session, _, bucket, role = made
    spec = str(_iris(tmp_path))
    absent = f"no-such-role-{uuid.uuid4().hex[:6]}"
    monkeypatch.setenv("SAGEMAKER_ROLE", f"arn:aws:iam::{ACCOUNT}:role/{absent}")
    missing = _invoke("doctor", spec, "-b", "sagemaker")
    assert missing.exit_code == 3 and f"role {absent} (SAGEMAKER_ROLE) does not exist in account 123456789012" in missing.output
    # setup makes a role of its own name: it says which, and how to make the one named (it suggested plain setup)
    assert (
        f"fix: `cloudauto setup sagemaker` makes role cloudauto-sagemaker-us-east-1, not {absent}: make {absent} with "
        f"`cloudauto setup sagemaker --role-name {absent}`, or set SAGEMAKER_ROLE to the role ARN setup prints"
    ) in " ".join(missing.output.split())
    named = _invoke("doctor", spec, "-b", "sagemaker", "--set", f"backends.sagemaker.role=arn:aws:iam::{ACCOUNT}:role/{absent}")
    assert named.exit_code == 3 and f"role {absent} (backends.sagemaker.role) does not exist" in named.output
    assert "or set backends.sagemaker.role to the role ARN setup prints" in " ".join(named.output.split())
    monkeypatch.setenv("SAGEMAKER_ROLE", f"arn:aws:iam::{ACCOUNT}:role/cloudauto-sagemaker-us-east-1")
    default = _invoke("doctor", spec, "-b", "sagemaker")  # setup's own name, not made: setup makes it
    assert default.exit_code == 3 and "fix: `cloudauto setup sagemaker` makes a bucket and a role" in default.output

    other = f"not-sagemakers-{uuid.uuid4().hex[:6]}"
    untrusted = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
    session.client("iam").create_role(RoleName=other, AssumeRolePolicyDocument=json.dumps(untrusted))
    monkeypatch.setenv("SAGEMAKER_ROLE", f"arn:aws:iam::{ACCOUNT}:role/{other}")
    untrusting = _invoke("doctor", spec, "-b", "sagemaker")
    assert untrusting.exit_code == 3
    assert (
        f"problem  role: role {other} exists but its trust policy does not let sagemaker.amazonaws.com assume it"
        in untrusting.output
    )

    monkeypatch.setenv("SAGEMAKER_ROLE", f"arn:aws:iam::{ACCOUNT}:role/{role}")
    elsewhere = f"cloudauto-test-eu-{uuid.uuid4().hex[:6]}"
    boto3.client("s3", region_name="eu-west-1").create_bucket(
        Bucket=elsewhere, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    far = _invoke("doctor", spec, "-b", "sagemaker", "--set", f"backends.sagemaker.bucket={elsewhere}")
    assert far.exit_code == 3
    assert f"problem  bucket: {elsewhere} is in eu-west-1, the job runs in us-east-1" in far.output

    old = _invoke("doctor", spec, "-b", "sagemaker", "--set", "backends.sagemaker.framework_version='1.2'")
    assert old.exit_code == 3 and "problem  images: " in old.output and "no autogluon 1.2 DLC image" in old.output
    unoffered = _invoke("doctor", spec, "-b", "sagemaker", "--set", "compute.instance_type=ml.m5.24xlarge")
    assert unoffered.exit_code == 3
    assert "problem  instance type: SageMaker offers no ml.m5.24xlarge for training job in us-east-1" in unoffered.output


def test_doctor_without_credentials_says_how_to_sign_in_and_a_backend_without_checks_says_so(monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "SAGEMAKER_ROLE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    done = _invoke("doctor", "-b", "sagemaker")
    assert done.exit_code == 3, done.output
    assert "problem  role: no IAM role for SageMaker training" in done.output
    assert "problem  credentials and region: no AWS credentials found" in done.output and "Traceback" not in done.output
    local = _invoke("doctor", "-b", "local")
    assert local.exit_code == 0 and "local: nothing to check" in local.output


def test_two_setups_at_once_make_one_bucket_and_one_role(aws):
    from concurrent.futures import ThreadPoolExecutor

    from cloudauto.registry import get_backend

    bucket, role = _names()
    plugin = get_backend("sagemaker")
    with ThreadPoolExecutor(2) as pool:
        done = list(pool.map(lambda _: plugin.setup(bucket=bucket, role_name=role, region="eu-west-1"), range(2)))
    assert all(f"export SAGEMAKER_BUCKET={bucket}" in lines for lines in done)
    said = "\n".join(line for lines in done for line in lines)
    assert said.count(f"role {role}: created") == 1, said  # the other found it made meanwhile, or made already
    iam, s3 = boto3.client("iam"), boto3.client("s3", region_name="eu-west-1")
    assert iam.list_role_policies(RoleName=role)["PolicyNames"] == [POLICY_NAME]
    assert s3.get_bucket_location(Bucket=bucket)["LocationConstraint"] == "eu-west-1"
    gone = plugin.teardown(bucket=bucket, role_name=role, region="eu-west-1")
    assert gone == [f"role {role}: removed", f"bucket {bucket}: removed (it was empty)"]


def test_a_spot_spec_is_checked_against_the_spot_training_quota(tmp_path, made):
    """compute.spot comes from another change: read with getattr, so a spec without it is an on-demand job."""
    from cloudauto_sagemaker.doctor import preflight

    import cloudauto
    from cloudauto.preflight import CheckLevel

    _, quotas, _, _ = made
    spec = cloudauto.JobSpec.from_file(_iris(tmp_path))
    quotas.values["ml.m5.2xlarge for spot training job usage"] = 0.0
    assert all(c.level is not CheckLevel.PROBLEM for c in preflight(spec))  # no spot: the spot quota is not read
    object.__setattr__(spec.compute, "spot", True)
    refused = [c for c in preflight(spec) if c.level is CheckLevel.PROBLEM]
    assert len(refused) == 1 and "'ml.m5.2xlarge for spot training job usage'" in refused[0].detail
    assert "is 0 instances in us-east-1; this needs 2" in refused[0].detail and "compute.spot: false" in refused[0].fix


def test_setup_print_names_the_templates_own_outputs_and_how_to_export_them():
    from cloudauto_sagemaker.setup import template

    printed, said = template("eu-west-1")
    outputs = set(json.loads(printed)["Outputs"])
    named = set(re.findall(r"OutputKey=='(\w+)'", said))
    assert named == outputs == {"SageMakerRole", "SageMakerBucket"}, said
    assert "export SAGEMAKER_ROLE=$(aws cloudformation describe-stacks" in said
    assert "export SAGEMAKER_BUCKET=$(aws cloudformation describe-stacks" in said
    assert "outputs are SAGEMAKER_ROLE" not in said


def test_teardown_refuses_while_a_job_runs_with_the_role_and_bucket_and_names_it(tmp_path, made, sm_session):
    session, _, bucket, role = made
    tuner = sm_session[1]
    spec = _iris(tmp_path)
    name = f"iris-{uuid.uuid4().hex[:6]}"
    submitted = _invoke("submit", str(spec), "-b", "sagemaker", "--set", f"name={name}")
    assert submitted.exit_code == 0, submitted.output
    (job,) = [j for j in _jobs(session) if j.startswith(f"{name}-")]
    tuner.running.add(job)  # InProgress until stopped

    refused = _invoke("teardown", "sagemaker", "--bucket", bucket, "--role-name", role, "--force")
    assert refused.exit_code == 6, refused.output
    assert "in use" in refused.output and "nothing was removed" in refused.output
    assert f"tuning job {job} (InProgress)" in refused.output
    assert f"cloudauto cancel {job} -b sagemaker" in refused.output and "Traceback" not in refused.output
    session.client("iam").get_role(RoleName=role)  # still there
    assert session.client("s3").list_objects_v2(Bucket=bucket)["KeyCount"] > 0

    assert _invoke("cancel", job, "-b", "sagemaker").exit_code == 0
    gone = _invoke("teardown", "sagemaker", "--bucket", bucket, "--role-name", role, "--force")
    assert gone.exit_code == 0, gone.output
    assert f"role {role}: removed" in gone.output and f"bucket {bucket}: removed with its" in gone.output


HTML_500 = (
    b"<!doctype html>\n<html lang=en>\n<head>\n<title>500 Internal Server Error</title>\n</head>\n<body>\n"
    b"<h1>Internal Server Error</h1>\n<p>The server encountered an internal error and was unable to complete your request."
    b"</p>\n</body>\n</html>\n"
)


def test_an_html_error_page_is_shown_as_one_short_line_by_doctor_runs_and_status(tmp_path, made, monkeypatch):
    """An emulator (or a proxy) answering 500 with an HTML page: every place that shows the service's text shows one line."""
    from botocore.awsrequest import AWSResponse

    session, _, _, _ = made
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    spec = _iris(tmp_path)
    submitted = _invoke("submit", str(spec), "-b", "sagemaker", "--set", f"name=iris-{uuid.uuid4().hex[:6]}")
    assert submitted.exit_code == 0, submitted.output

    class Raw:
        def stream(self, **_):
            yield HTML_500

    def html_500(request, **_):
        if request.headers.get("X-Amz-Target", b"").endswith(b"ListHyperParameterTuningJobs"):
            return None
        return AWSResponse(request.url, 500, {"Content-Type": "text/html; charset=utf-8"}, Raw())

    session.events.register("before-send.sagemaker", html_500)
    outputs = {
        "doctor": _invoke("doctor", str(spec), "-b", "sagemaker").output,
        "runs": _invoke("runs", "-b", "sagemaker").output,
        "status": _invoke("status", "latest", "-b", "sagemaker").output,
    }
    for command, output in outputs.items():
        assert "<html" not in output.lower() and "<!doctype" not in output.lower(), (command, output)
        assert "500 Internal Server Error" in output, (command, output)
        shown = [line for line in output.splitlines() if "500 Internal Server Error" in line]
        assert all(len(line) < 400 for line in shown), (command, output)
        assert "Traceback" not in output, (command, output)


def test_one_line_keeps_a_title_collapses_whitespace_and_caps_the_length():
    from cloudauto_sagemaker.submit import one_line

    assert one_line(HTML_500.decode()) == "500 Internal Server Error"
    assert one_line("<html><body>\n<p>Bad\n  gateway &amp; more</p></body></html>") == "Bad gateway & more"
    assert one_line("Rate   exceeded\n  try later") == "Rate exceeded try later"
    long = one_line("x " * 500)
    assert len(long) == 200 and long.endswith("...")
    assert one_line("a < b and c > d") == "a < b and c > d"  # not HTML: kept as it is
