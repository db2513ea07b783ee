"""`cloudauto setup sagemaker` / `teardown sagemaker`: the bucket and the execution role a first job needs.

The role carries only what SageMaker does for cloudauto with it (training jobs of a tuning job,
models behind endpoints and batch transforms): read and write the one bucket, pull the DLC
images cloudauto runs from the region's DLC registry, write CloudWatch Logs and SageMaker's
metrics. What the *caller* does (upload, create jobs, pass the role) is the caller's own
permission, not the role's.

Both resources carry `cloudauto:creator=cloudauto` and `cloudauto:setup=sagemaker`; teardown
removes a bucket or role of the given names only when it carries them, and a bucket that holds
objects only with `force` (they are the jobs' data and models). A bucket or role of that name
that setup did not make is used as it is and never changed or removed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Optional

from cloudauto.endpoints import CREATOR, TAG_CREATED, TAG_CREATOR, iso
from cloudauto.spec.errors import CloudautoError

from . import images

TAG_SETUP, SETUP = "cloudauto:setup", "sagemaker"
POLICY_NAME = "cloudauto-sagemaker"
# the DLC repositories cloudauto's jobs and endpoints pull (images.IMAGES): AutoGluon, and PyTorch for engine: command
REPOSITORIES = ("autogluon", "autogluon-training", "autogluon-inference", "pytorch-training")
ROLE_ACTIONS = {  # what simulate-principal-policy checks, by the resource it is checked on (doctor.py)
    "objects": ("s3:GetObject", "s3:PutObject"),
    "bucket": ("s3:ListBucket",),
    "token": ("ecr:GetAuthorizationToken",),
    "images": ("ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"),
    "logs": ("logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"),
}


class SetupInUse(CloudautoError):
    """A job or endpoint runs with the role or bucket setup made: teardown removes nothing (exit 6, like `delete` of a
    job in use: what uses them goes on)."""

    exit_code = 6


class TeardownRefused(CloudautoError):
    """A bucket setup made holds objects: the jobs' data and models are not deleted without --force."""

    exit_code = 64


def default_bucket(account: str, region: str) -> str:
    return f"cloudauto-{account}-{region}"


def default_role(region: str) -> str:
    return f"cloudauto-sagemaker-{region}"


def partition_of(region: str) -> str:
    return "aws-cn" if region.startswith("cn-") else "aws-us-gov" if region.startswith("us-gov-") else "aws"


def trust_policy() -> dict[str, Any]:
    """SageMaker (training, models, transforms) may assume the role; nobody else."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"},
        ],
    }


def permissions_policy(*, partition: str, region: str, account: str, bucket: str, dlc_account: str) -> dict[str, Any]:
    """The role's one inline policy: the bucket, the DLC images, logs and SageMaker's metrics (nothing else)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "JobDataModelsAndOutputs",
                "Effect": "Allow",
                "Action": list(ROLE_ACTIONS["objects"]),
                "Resource": f"arn:{partition}:s3:::{bucket}/*",
            },
            {
                "Sid": "ListTheBucket",
                "Effect": "Allow",
                "Action": [*ROLE_ACTIONS["bucket"], "s3:GetBucketLocation"],
                "Resource": f"arn:{partition}:s3:::{bucket}",
            },
            {"Sid": "RegistrySignIn", "Effect": "Allow", "Action": list(ROLE_ACTIONS["token"]), "Resource": "*"},
            {
                "Sid": "PullTheDeepLearningContainers",
                "Effect": "Allow",
                "Action": list(ROLE_ACTIONS["images"]),
                "Resource": [f"arn:{partition}:ecr:{region}:{dlc_account}:repository/{name}" for name in REPOSITORIES],
            },
            {
                "Sid": "JobAndEndpointLogs",
                "Effect": "Allow",
                "Action": list(ROLE_ACTIONS["logs"]),
                "Resource": f"arn:{partition}:logs:{region}:{account}:log-group:/aws/sagemaker/*",
            },
            {
                "Sid": "SageMakerMetrics",
                "Effect": "Allow",
                "Action": "cloudwatch:PutMetricData",
                "Resource": "*",
                "Condition": {"StringLike": {"cloudwatch:namespace": ["/aws/sagemaker/*", "aws/sagemaker/*"]}},
            },
        ],
    }


def _tags(now: Optional[float] = None) -> dict[str, str]:
    import time

    return {TAG_CREATOR: CREATOR, TAG_SETUP: SETUP, TAG_CREATED: iso(time.time() if now is None else now)}


def is_setups(tags: dict[str, str]) -> bool:
    return tags.get(TAG_CREATOR) == CREATOR and tags.get(TAG_SETUP) == SETUP


def cloudformation(region: str) -> dict[str, Any]:
    """The same bucket and role as a CloudFormation template, for a platform team that creates roles itself."""
    dlc = images.account(region)
    sub = {"partition": "${AWS::Partition}", "region": "${AWS::Region}", "account": "${AWS::AccountId}"}
    policy = permissions_policy(bucket="${Bucket}", dlc_account=dlc, **sub)

    def fn_sub(value: Any) -> Any:
        if isinstance(value, str) and "${" in value:
            return {"Fn::Sub": value}
        if isinstance(value, list):
            return [fn_sub(v) for v in value]
        if isinstance(value, dict):
            return {k: fn_sub(v) for k, v in value.items()}
        return value

    tags = [{"Key": TAG_CREATOR, "Value": CREATOR}, {"Key": TAG_SETUP, "Value": SETUP}]
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"cloudauto setup sagemaker: a job bucket and a SageMaker execution role (DLC registry {dlc} is {region}'s)",
        "Parameters": {
            "BucketName": {"Type": "String", "Default": "", "Description": "default cloudauto-ACCOUNT-REGION"},
            "RoleName": {"Type": "String", "Default": default_role(region)},
        },
        "Conditions": {"NamedBucket": {"Fn::Not": [{"Fn::Equals": [{"Ref": "BucketName"}, ""]}]}},
        "Resources": {
            "Bucket": {
                "Type": "AWS::S3::Bucket",
                "DeletionPolicy": "Retain",  # deleting the stack keeps the jobs' data and models
                "Properties": {
                    "BucketName": {
                        "Fn::If": [
                            "NamedBucket",
                            {"Ref": "BucketName"},
                            {"Fn::Sub": "cloudauto-${AWS::AccountId}-${AWS::Region}"},
                        ]
                    },
                    "PublicAccessBlockConfiguration": dict.fromkeys(
                        ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"), True
                    ),
                    "BucketEncryption": {
                        "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
                    },
                    "Tags": tags,
                },
            },
            "Role": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "RoleName": {"Ref": "RoleName"},
                    "Description": "SageMaker execution role for cloudauto jobs, endpoints and batch transforms",
                    "AssumeRolePolicyDocument": trust_policy(),
                    "Policies": [{"PolicyName": POLICY_NAME, "PolicyDocument": fn_sub(policy)}],
                    "Tags": tags,
                },
            },
        },
        "Outputs": {
            "SageMakerRole": {"Value": {"Fn::GetAtt": ["Role", "Arn"]}},
            "SageMakerBucket": {"Value": {"Ref": "Bucket"}},
        },
    }


class NeedsRegion(CloudautoError):
    exit_code = 64


def template(region: Optional[str]) -> list[str]:
    """`setup sagemaker --print`: [the template as JSON, how to deploy it]; the region names its DLC registry."""
    import os

    chosen = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if not chosen:
        raise NeedsRegion("--print needs the region (the template names its Deep Learning Container registry): --region REGION")
    stack = "cloudauto-sagemaker"

    def export(env: str, output: str) -> str:
        return (
            f"export {env}=$(aws cloudformation describe-stacks --stack-name {stack} --region {chosen}"
            f" --query \"Stacks[0].Outputs[?OutputKey=='{output}'].OutputValue\" --output text)"
        )

    return [
        json.dumps(cloudformation(chosen), indent=2),
        f"deploy it with: aws cloudformation deploy --template-file {stack}.json --stack-name {stack}"
        f" --capabilities CAPABILITY_NAMED_IAM --region {chosen}; the stack's outputs SageMakerRole and SageMakerBucket"
        " are what cloudauto reads as SAGEMAKER_ROLE and SAGEMAKER_BUCKET:\n"
        + export("SAGEMAKER_ROLE", "SageMakerRole")
        + "\n"
        + export("SAGEMAKER_BUCKET", "SageMakerBucket"),
    ]


@dataclass
class Names:
    region: str
    account: str
    partition: str
    bucket: str
    role: str

    @property
    def role_arn(self) -> str:
        return f"arn:{self.partition}:iam::{self.account}:role/{self.role}"


def _names(session: Any, bucket: Optional[str], role_name: Optional[str]) -> Names:
    from .submit import aws_call

    account = aws_call("sts get-caller-identity", session.client("sts").get_caller_identity)["Account"]
    region = session.region_name
    return Names(
        region, account, partition_of(region), bucket or default_bucket(account, region), role_name or default_role(region)
    )


def _error(exc: Any) -> tuple[str, str]:
    from .submit import error_text

    return error_text(exc)


def bucket_region(s3: Any, bucket: str) -> str:
    from .submit import aws_call

    located = aws_call(f"s3 bucket {bucket}: its region", s3.get_bucket_location, Bucket=bucket).get("LocationConstraint")
    return {None: "us-east-1", "": "us-east-1", "EU": "eu-west-1"}.get(located, located)


def bucket_tags(s3: Any, bucket: str) -> dict[str, str]:
    from botocore.exceptions import ClientError

    from .submit import AWSError, botocore_call

    try:
        found = botocore_call(f"s3 bucket {bucket}: its tags", s3.get_bucket_tagging, Bucket=bucket)
    except ClientError as exc:
        code, message = _error(exc)
        if code in ("NoSuchTagSet", "NoSuchTagSetError"):
            return {}
        raise AWSError(f"s3 bucket {bucket}: read its tags: {code}: {message}") from None
    return {t["Key"]: t["Value"] for t in found.get("TagSet", [])}


def bucket_exists(s3: Any, bucket: str) -> bool:
    """Whether the bucket exists and is this account's; a bucket of another account is an AWSError naming the way out."""
    from botocore.exceptions import ClientError

    from .submit import AWSError, botocore_call

    try:
        botocore_call(f"s3 bucket {bucket}", s3.head_bucket, Bucket=bucket)
        return True
    except ClientError as exc:
        code, message = _error(exc)
        if code in ("404", "NoSuchBucket", "NotFound"):
            return False
        if code in ("403", "AccessDenied", "Forbidden"):
            raise AWSError(
                f"s3 bucket {bucket} exists and these credentials may not use it (another account's, or no s3:ListBucket): "
                "name another with --bucket"
            ) from None
        raise AWSError(f"s3 bucket {bucket}: {code}: {message}") from None


def _setup_bucket(session: Any, names: Names, say: list[str]) -> None:
    from botocore.exceptions import ClientError

    from .submit import AWSError, aws_call, botocore_call

    s3 = session.client("s3")
    bucket = names.bucket
    if bucket_exists(s3, bucket):
        where = bucket_region(s3, bucket)
        if where != names.region:
            raise AWSError(
                f"s3 bucket {bucket} is in {where}, not {names.region}: name another with --bucket, or --region {where}"
            )
        if is_setups(bucket_tags(s3, bucket)):
            say.append(f"bucket {bucket}: exists (made by cloudauto setup), nothing new")
        else:
            say.append(f"bucket {bucket}: exists and was not made by cloudauto setup: used as it is, and teardown leaves it")
        return
    kwargs: dict[str, Any] = {"Bucket": bucket}
    if names.region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": names.region}
    try:
        botocore_call(f"create s3 bucket {bucket}", s3.create_bucket, **kwargs)
    except ClientError as exc:
        code, message = _error(exc)
        if code == "BucketAlreadyOwnedByYou":  # a twin setup made it meanwhile
            say.append(f"bucket {bucket}: exists (made meanwhile), nothing new")
            return
        raise AWSError(f"create s3 bucket {bucket}: {code}: {message}") from None
    try:  # tagged first: a bucket setup made and could not finish is removed, never left untagged
        aws_call(
            f"tag s3 bucket {bucket}",
            s3.put_bucket_tagging,
            Bucket=bucket,
            Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in _tags().items()]},
        )
        aws_call(
            f"block public access to s3 bucket {bucket}",
            s3.put_public_access_block,
            Bucket=bucket,
            PublicAccessBlockConfiguration=dict.fromkeys(
                ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"), True
            ),
        )
        aws_call(
            f"encrypt s3 bucket {bucket}",
            s3.put_bucket_encryption,
            Bucket=bucket,
            ServerSideEncryptionConfiguration={"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]},
        )
    except AWSError:
        botocore_call(f"remove s3 bucket {bucket}", s3.delete_bucket, Bucket=bucket)
        raise
    say.append(
        f"bucket {bucket}: created in {names.region} (public access blocked, encrypted with SSE-S3, tagged {TAG_SETUP}={SETUP})"
    )


def role_tags(iam: Any, role: str) -> dict[str, str]:
    from .submit import aws_call

    found = aws_call(f"iam role {role}: its tags", iam.list_role_tags, RoleName=role)
    return {t["Key"]: t["Value"] for t in found.get("Tags", [])}


def get_role(iam: Any, role: str) -> Optional[dict[str, Any]]:
    from botocore.exceptions import ClientError

    from .submit import AWSError, botocore_call

    try:
        return botocore_call(f"iam role {role}", iam.get_role, RoleName=role)["Role"]
    except ClientError as exc:
        code, message = _error(exc)
        if code == "NoSuchEntity":
            return None
        raise AWSError(f"iam role {role}: {code}: {message}") from None


def _document(value: Any) -> Any:
    """IAM's documents come back URL-encoded JSON (boto3 decodes most of them): the dict either way."""
    if isinstance(value, str):
        from urllib.parse import unquote

        return json.loads(unquote(value))
    return value


def _setup_role(session: Any, names: Names, say: list[str]) -> None:
    from botocore.exceptions import ClientError

    from .submit import AWSError, aws_call, botocore_call

    iam = session.client("iam")
    policy = permissions_policy(
        partition=names.partition,
        region=names.region,
        account=names.account,
        bucket=names.bucket,
        dlc_account=images.account(names.region),
    )
    found = get_role(iam, names.role)
    if found is not None:
        if not is_setups(role_tags(iam, names.role)):
            say.append(
                f"role {names.role}: exists and was not made by cloudauto setup: left as it is (cloudauto doctor checks it)"
            )
            return
        changed = []
        if _document(found.get("AssumeRolePolicyDocument")) != trust_policy():
            aws_call(
                f"iam role {names.role}: its trust policy",
                iam.update_assume_role_policy,
                RoleName=names.role,
                PolicyDocument=json.dumps(trust_policy()),
            )
            changed.append("trust policy")
        try:
            current = _document(
                botocore_call("read the role's policy", iam.get_role_policy, RoleName=names.role, PolicyName=POLICY_NAME)[
                    "PolicyDocument"
                ]
            )
        except ClientError:
            current = None
        if current != policy:
            aws_call(
                f"iam role {names.role}: its policy",
                iam.put_role_policy,
                RoleName=names.role,
                PolicyName=POLICY_NAME,
                PolicyDocument=json.dumps(policy),
            )
            changed.append(f"policy {POLICY_NAME} (now for bucket {names.bucket})")
        say.append(
            f"role {names.role}: exists (made by cloudauto setup), "
            + (f"updated its {' and '.join(changed)}" if changed else "nothing new")
        )
        return
    try:
        botocore_call(
            f"create iam role {names.role}",
            iam.create_role,
            RoleName=names.role,
            AssumeRolePolicyDocument=json.dumps(trust_policy()),
            Description="SageMaker execution role for cloudauto jobs, endpoints and batch transforms",
            Tags=[{"Key": k, "Value": v} for k, v in _tags().items()],
        )
    except ClientError as exc:
        code, message = _error(exc)
        if code == "EntityAlreadyExists":  # a twin setup made it meanwhile: its policy is the same
            say.append(f"role {names.role}: exists (made meanwhile), nothing new")
            return
        raise AWSError(f"create iam role {names.role}: {code}: {message}") from None
    try:
        aws_call(
            f"iam role {names.role}: its policy",
            iam.put_role_policy,
            RoleName=names.role,
            PolicyName=POLICY_NAME,
            PolicyDocument=json.dumps(policy),
        )
    except AWSError:
        botocore_call(f"remove iam role {names.role}", iam.delete_role, RoleName=names.role)
        raise
    say.append(
        f"role {names.role}: created; SageMaker may assume it, and its policy {POLICY_NAME} allows bucket {names.bucket}, "
        f"the {names.region} Deep Learning Container images, and logs (IAM may take a minute to make a new role usable)"
    )


def setup(
    *, region: Optional[str] = None, bucket: Optional[str] = None, role_name: Optional[str] = None
) -> tuple[list[str], dict]:
    """(what was made or found, one line each; the settings a job reads: SAGEMAKER_ROLE, SAGEMAKER_BUCKET, region)."""
    from . import submit as submitting

    session = submitting.session_for(region=region)
    names = _names(session, bucket, role_name)
    say: list[str] = []
    _setup_bucket(session, names, say)
    _setup_role(session, names, say)
    return say, {"SAGEMAKER_ROLE": names.role_arn, "SAGEMAKER_BUCKET": names.bucket, "AWS_DEFAULT_REGION": names.region}


def _empty(s3: Any, bucket: str) -> int:
    """Delete every object (every version) of the bucket; how many."""
    from .submit import aws_call

    removed = 0
    paginator = s3.get_paginator("list_object_versions")
    for page in paginator.paginate(Bucket=bucket):
        keys = [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
        for start in range(0, len(keys), 1000):
            aws_call(
                f"empty s3 bucket {bucket}", s3.delete_objects, Bucket=bucket, Delete={"Objects": keys[start : start + 1000]}
            )
        removed += len(page.get("Versions", []))
    return removed


def _count(s3: Any, bucket: str) -> int:
    from .submit import aws_call

    return int(aws_call(f"list s3 bucket {bucket}", s3.list_objects_v2, Bucket=bucket, MaxKeys=1000).get("KeyCount", 0))


RUNNING = ("InProgress", "Stopping")
SERVING = ("InService", "Creating", "Updating", "SystemUpdating", "RollingBack", "UpdateRollbackFailed")


def _pages(what: str, fn: Any, key: str, **kwargs: Any) -> list[dict[str, Any]]:
    from .submit import aws_call

    found: list[dict[str, Any]] = []
    kwargs = {"MaxResults": 100, **kwargs}
    while True:
        page = aws_call(what, fn, **kwargs)
        found += page.get(key, [])
        if not page.get("NextToken"):
            return found
        kwargs["NextToken"] = page["NextToken"]


def users(session: Any, names: Names) -> list[str]:
    """The tuning, training and transform jobs in progress and the endpoints up that use the role or the bucket, one line
    each with how to stop it: SageMaker's own lists, so a job submitted from another machine counts too."""
    from .submit import aws_call

    sm = session.client("sagemaker")
    prefix = f"s3://{names.bucket}/"

    def uses(role_arn: Optional[str], *uris: Optional[str]) -> bool:
        return role_arn == names.role_arn or any(u == prefix[:-1] or (u or "").startswith(prefix) for u in uris)

    def model_uses(model: str) -> bool:
        described = aws_call(f"describe model {model}", sm.describe_model, ModelName=model)
        containers = [described.get("PrimaryContainer") or {}, *described.get("Containers", [])]
        return uses(described.get("ExecutionRoleArn"), *(c.get("ModelDataUrl") for c in containers))

    found: list[str] = []
    for job in _pages("list tuning jobs", sm.list_hyper_parameter_tuning_jobs, "HyperParameterTuningJobSummaries"):
        if job.get("HyperParameterTuningJobStatus") not in RUNNING:
            continue
        name = job["HyperParameterTuningJobName"]
        described = aws_call(
            f"describe tuning job {name}", sm.describe_hyper_parameter_tuning_job, HyperParameterTuningJobName=name
        )
        status = described.get("HyperParameterTuningJobStatus")
        definitions = [described.get("TrainingJobDefinition") or {}, *described.get("TrainingJobDefinitions", [])]
        if status in RUNNING and any(
            uses(d.get("RoleArn"), (d.get("OutputDataConfig") or {}).get("S3OutputPath")) for d in definitions
        ):
            found.append(f"tuning job {name} ({status}): stop it with `cloudauto cancel {name} -b sagemaker`")
    for job in _pages("list training jobs", sm.list_training_jobs, "TrainingJobSummaries", StatusEquals="InProgress"):
        name = job["TrainingJobName"]
        described = aws_call(f"describe training job {name}", sm.describe_training_job, TrainingJobName=name)
        if described.get("TuningJobArn"):  # its tuning job is named above
            continue
        if uses(described.get("RoleArn"), (described.get("OutputDataConfig") or {}).get("S3OutputPath")):
            found.append(
                f"training job {name} (InProgress): stop it with `aws sagemaker stop-training-job --training-job-name {name}`"
            )
    for job in _pages("list transform jobs", sm.list_transform_jobs, "TransformJobSummaries", StatusEquals="InProgress"):
        name = job["TransformJobName"]
        described = aws_call(f"describe transform job {name}", sm.describe_transform_job, TransformJobName=name)
        source = ((described.get("TransformInput") or {}).get("DataSource") or {}).get("S3DataSource") or {}
        if uses(None, source.get("S3Uri"), (described.get("TransformOutput") or {}).get("S3OutputPath")) or model_uses(
            described["ModelName"]
        ):
            found.append(
                f"batch transform job {name} (InProgress): stop it with "
                f"`aws sagemaker stop-transform-job --transform-job-name {name}`"
            )
    for endpoint in _pages("list endpoints", sm.list_endpoints, "Endpoints"):
        if endpoint.get("EndpointStatus") not in SERVING:
            continue
        name = endpoint["EndpointName"]
        described = aws_call(f"describe endpoint {name}", sm.describe_endpoint, EndpointName=name)
        config = aws_call(
            "describe endpoint config", sm.describe_endpoint_config, EndpointConfigName=described["EndpointConfigName"]
        )
        if any(model_uses(v["ModelName"]) for v in config.get("ProductionVariants", []) if v.get("ModelName")):
            found.append(
                f"endpoint {name} ({endpoint['EndpointStatus']}): delete it with `cloudauto delete-endpoint {name} -b sagemaker`"
            )
    return found


def teardown(
    *, region: Optional[str] = None, bucket: Optional[str] = None, role_name: Optional[str] = None, force: bool = False
) -> list[str]:
    """Remove the bucket and role setup made (by their tags), one line each; a bucket holding objects only with `force`.

    Everything is looked at before anything is removed: a refusal removes nothing.
    """
    from . import submit as submitting
    from .submit import aws_call

    session = submitting.session_for(region=region)
    names = _names(session, bucket, role_name)
    s3, iam = session.client("s3"), session.client("iam")
    say: list[str] = []

    remove_bucket = False
    if not bucket_exists(s3, names.bucket):
        say.append(f"bucket {names.bucket}: none")
    elif not is_setups(bucket_tags(s3, names.bucket)):
        say.append(f"bucket {names.bucket}: not made by cloudauto setup, left as it is")
    else:
        held = _count(s3, names.bucket)
        if held and not force:
            more = "1,000 or more" if held >= 1000 else str(held)
            raise TeardownRefused(
                f"bucket {names.bucket} holds {more} objects (jobs' data, models and outputs): nothing was removed. "
                f"Copy what you need (aws s3 sync s3://{names.bucket} ./backup), then rerun with --force to delete them with "
                "the bucket"
            )
        remove_bucket = True

    role = get_role(iam, names.role)
    remove_role = False
    if role is None:
        say.append(f"role {names.role}: none")
    elif not is_setups(role_tags(iam, names.role)):
        say.append(f"role {names.role}: not made by cloudauto setup, left as it is")
    else:
        remove_role = True

    if remove_role or remove_bucket:
        in_use = users(session, names)
        if in_use:
            raise SetupInUse(
                f"role {names.role} and bucket {names.bucket} are in use, nothing was removed: "
                + "; ".join(in_use)
                + ". Stop them, then rerun teardown"
            )

    if remove_role:
        for policy in aws_call("list the role's policies", iam.list_role_policies, RoleName=names.role).get("PolicyNames", []):
            aws_call(f"remove policy {policy}", iam.delete_role_policy, RoleName=names.role, PolicyName=policy)
        attached = aws_call("list the role's attached policies", iam.list_attached_role_policies, RoleName=names.role)
        for policy in attached.get("AttachedPolicies", []):
            aws_call(f"detach {policy['PolicyArn']}", iam.detach_role_policy, RoleName=names.role, PolicyArn=policy["PolicyArn"])
        aws_call(f"remove iam role {names.role}", iam.delete_role, RoleName=names.role)
        say.append(f"role {names.role}: removed")
    if remove_bucket:
        removed = _empty(s3, names.bucket) if force else 0
        aws_call(f"remove s3 bucket {names.bucket}", s3.delete_bucket, Bucket=names.bucket)
        say.append(
            f"bucket {names.bucket}: removed" + (f" with its {removed} objects (--force)" if removed else " (it was empty)")
        )
    return say


__all__ = [
    "POLICY_NAME",
    "SetupInUse",
    "ROLE_ACTIONS",
    "TAG_SETUP",
    "TeardownRefused",
    "cloudformation",
    "default_bucket",
    "default_role",
    "permissions_policy",
    "setup",
    "teardown",
    "trust_policy",
]
