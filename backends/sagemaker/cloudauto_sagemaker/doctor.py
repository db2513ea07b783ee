"""`cloudauto doctor -b sagemaker` and submit's preflight: what SageMaker would check after the upload, checked before it.

One Check per question: credentials and who they are, the region, the role (exists, SageMaker may
assume it, carries the actions, by IAM's policy simulator), the bucket (exists, in the job's
region, writable), and for a spec the instance type (offered in the region), the account's
Service Quotas against what the job runs at once, and the images of its AutoGluon release.
A check the caller may not run (AccessDenied on iam:GetRole, iam:SimulatePrincipalPolicy,
servicequotas:ListServiceQuotas) is a warning that says so: it never refuses a job.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Any, Optional

from cloudauto.preflight import Check, CheckLevel
from cloudauto.spec.errors import CloudautoError
from cloudauto.spec.models import JobSpec

from . import images
from .setup import ROLE_ACTIONS, partition_of

OK, WARNING, PROBLEM = CheckLevel.OK, CheckLevel.WARNING, CheckLevel.PROBLEM
NO_ROLE = (
    "no IAM role for SageMaker training: set SAGEMAKER_ROLE to the ARN of a role SageMaker can assume "
    "(or backends.sagemaker.role in the spec)"
)
SETUP_FIX = "`cloudauto setup sagemaker` makes a bucket and a role and prints the lines to export"
_DENIED = ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "403")
_ECR_URI = re.compile(r"^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/([^:@]+)")
_ARN_ROLE = re.compile(r"^arn:[\w-]+:iam::(\d{12}):role/(?:.*/)?([\w+=,.@-]+)$")


def _code(exc: Any) -> tuple[str, str]:
    """(code, message) of a ClientError, or of botocore's own failure (an AWSError: no connection, an answer it cannot read)."""
    from .submit import error_text

    return error_text(exc)


def _call(fn: Callable[..., Any], **kwargs: Any) -> Any:
    """The call's answer, or raises botocore's ClientError (the caller decides: a problem or a warning)."""
    from .submit import botocore_call

    return botocore_call(getattr(fn, "__name__", "aws call"), fn, **kwargs)


class _Run:
    """The checks of one doctor or preflight, and what they share (the session, the account)."""

    def __init__(self, spec: Optional[JobSpec], *, full: bool, region: Optional[str] = None):
        self.spec, self.full, self.region_option = spec, full, region
        self.checks: list[Check] = []
        self.settings = spec.backends.sagemaker if spec is not None else None

    def add(self, name: str, level: CheckLevel, detail: str = "", fix: str = "") -> None:
        self.checks.append(Check(name, level, detail, fix))

    def run(self) -> list[Check]:
        from . import submit as submitting

        role = (self.settings.role if self.settings else None) or os.environ.get("SAGEMAKER_ROLE")
        self.role_from = "backends.sagemaker.role" if self.settings and self.settings.role else "SAGEMAKER_ROLE"
        if not role:
            self.add("role", PROBLEM, NO_ROLE, SETUP_FIX)
        try:
            session = submitting.session_for(self.spec, self.region_option)
        except CloudautoError as exc:  # no credentials, no region: nothing more can be asked
            self.add("credentials and region", PROBLEM, str(exc))
            return self.checks
        self.session, self.region = session, session.region_name
        self.partition = partition_of(self.region)
        if not self._identity():
            return self.checks
        self._region()
        if role:
            self._role(role)
        self._bucket()
        if self.spec is not None:
            self._quotas()
        self._images()
        return self.checks

    # who and where
    def _identity(self) -> bool:
        from botocore.exceptions import ClientError

        try:
            who = _call(self.session.client("sts").get_caller_identity)
        except (ClientError, CloudautoError) as exc:
            code, message = _code(exc)
            self.add(
                "credentials",
                PROBLEM,
                f"sts get-caller-identity: {code}: {message}",
                "sign in again (aws sso login, aws configure) or check AWS_PROFILE",
            )
            return False
        self.account = who["Account"]
        self.add("credentials", OK, f"account {who['Account']} as {who.get('Arn', '?')}")
        return True

    def _region(self) -> None:
        where = (
            "backends.sagemaker.region"
            if self.settings is not None and self.settings.region
            else "--region"
            if self.region_option
            else "AWS_REGION"
            if os.environ.get("AWS_REGION")
            else "AWS_DEFAULT_REGION"
            if os.environ.get("AWS_DEFAULT_REGION")
            else "the AWS profile"
        )
        try:
            images.account(self.region)
        except images.ImageError as exc:
            self.add("region", PROBLEM, f"{self.region} (from {where}): {exc}", "choose a region SageMaker's DLC images are in")
            return
        self.add("region", OK, f"{self.region} (from {where})")

    # the role
    def _make_role(self, name: str) -> str:
        """How to make a missing role: setup makes its own name; a role of another name is made with --role-name."""
        from .setup import default_role

        made = default_role(self.region)
        if name == made:
            return SETUP_FIX
        return (
            f"`cloudauto setup sagemaker` makes role {made}, not {name}: make {name} with "
            f"`cloudauto setup sagemaker --role-name {name}`, or set {self.role_from} to the role ARN setup prints"
        )

    def _role(self, arn: str) -> None:
        from botocore.exceptions import ClientError

        match = _ARN_ROLE.match(arn)
        if not match:
            self.add("role", PROBLEM, f"'{arn}' is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)", SETUP_FIX)
            return
        owner, name = match.groups()
        if owner != self.account:
            self.add("role", WARNING, f"{name} is a role of account {owner}, not {self.account}: not read from here")
            return
        iam = self.session.client("iam")
        try:
            found = _call(iam.get_role, RoleName=name)["Role"]
        except (ClientError, CloudautoError) as exc:
            code, message = _code(exc)
            if code == "NoSuchEntity":
                self.add("role", PROBLEM, f"role {name} ({self.role_from}) does not exist in account {self.account}", self._make_role(name))
            elif code in _DENIED:
                self.add("role", WARNING, f"role {name} not read: these credentials may not use iam:GetRole ({code})")
            else:
                self.add("role", WARNING, f"role {name} not read: {code}: {message}")
            return
        from .setup import _document

        if trusts_sagemaker(_document(found.get("AssumeRolePolicyDocument"))):
            self.add("role", OK, f"{name} exists and SageMaker may assume it")
        else:
            self.add(
                "role",
                PROBLEM,
                f"role {name} exists but its trust policy does not let sagemaker.amazonaws.com assume it",
                f"add the service to its trust policy (aws iam update-assume-role-policy --role-name {name} ...), "
                "or " + SETUP_FIX,
            )
            return
        self._simulate(iam, arn, name)

    def _simulate(self, iam: Any, arn: str, name: str) -> None:
        from botocore.exceptions import ClientError
        from botocore.parsers import ResponseParserError

        denied: list[str] = []
        for actions, resource in self._needs():
            try:
                answer = _call(
                    iam.simulate_principal_policy, PolicySourceArn=arn, ActionNames=list(actions), ResourceArns=[resource]
                )
            except (ClientError, CloudautoError, ResponseParserError) as exc:  # the last: a service without the API (moto)
                code, message = _code(exc)
                why = "these credentials may not use iam:SimulatePrincipalPolicy" if code in _DENIED else f"{code}: {message}"
                self.add("role permissions", WARNING, f"not checked: {why}")
                return
            denied += [
                f"{r['EvalActionName']} on {resource}"
                for r in answer.get("EvaluationResults", [])
                if r.get("EvalDecision") != "allowed"
            ]
        if denied:
            self.add(
                "role permissions",
                PROBLEM,
                f"role {name} lacks {'; '.join(denied)}",
                "add them to the role, or run `cloudauto setup sagemaker` for a role that has them",
            )
        else:
            self.add("role permissions", OK, f"{name} may read and write the bucket, pull the images and write logs")

    def _needs(self) -> list[tuple[tuple[str, ...], str]]:
        """(actions, resource) the role needs for this job: its bucket prefix, the images, the logs, the spec's s3:// data."""
        p, bucket = self.partition, self._bucket_name()
        prefix = self.settings.prefix if self.settings else "cloudauto"
        needs = [
            (ROLE_ACTIONS["objects"], f"arn:{p}:s3:::{bucket}/{prefix}/job/output/model.tar.gz"),
            (ROLE_ACTIONS["bucket"], f"arn:{p}:s3:::{bucket}"),
            (ROLE_ACTIONS["token"], "*"),
            (
                ROLE_ACTIONS["logs"],
                f"arn:{p}:logs:{self.region}:{self.account}:log-group:/aws/sagemaker/TrainingJobs:log-stream:job",
            ),
        ]
        for uri in {uri for uri, _ in self._images_used()}:
            match = _ECR_URI.match(uri)
            if match:
                account, region, repository = match.groups()
                needs.append((ROLE_ACTIONS["images"], f"arn:{p}:ecr:{region}:{account}:repository/{repository}"))
        if self.spec is not None:
            for uri in {**self.spec.data.uris(), **self.settings.data}.values():
                if str(uri).startswith("s3://"):
                    data_bucket, _, key = str(uri)[5:].partition("/")
                    needs.append((("s3:GetObject",), f"arn:{p}:s3:::{data_bucket}/{key.rstrip('/') or 'x'}"))
                    needs.append((("s3:ListBucket",), f"arn:{p}:s3:::{data_bucket}"))
        return needs

    # the bucket
    def _bucket_name(self) -> str:
        return (
            (self.settings.bucket if self.settings else None)
            or os.environ.get("SAGEMAKER_BUCKET")
            or (f"sagemaker-{self.region}-{self.account}")
        )

    def _bucket(self) -> None:
        from .setup import bucket_exists, bucket_region

        named = (self.settings.bucket if self.settings else None) or os.environ.get("SAGEMAKER_BUCKET")
        bucket = self._bucket_name()
        s3 = self.session.client("s3")
        try:
            exists = bucket_exists(s3, bucket)
            where = bucket_region(s3, bucket) if exists else None
        except CloudautoError as exc:
            self.add("bucket", PROBLEM, str(exc), SETUP_FIX)
            return
        if not exists:
            if named:
                field = "backends.sagemaker.bucket" if self.settings is not None and self.settings.bucket else "SAGEMAKER_BUCKET"
                self.add(
                    "bucket", PROBLEM, f"{bucket} ({field}) does not exist", f"`cloudauto setup sagemaker --bucket {bucket}`"
                )
            else:
                self.add("bucket", OK, f"{bucket} (SageMaker's default) does not exist yet: submit creates it")
            return
        if where != self.region:
            self.add(
                "bucket",
                PROBLEM,
                f"{bucket} is in {where}, the job runs in {self.region}: SageMaker reads a job's data from its own region",
                f"name a bucket in {self.region} (`cloudauto setup sagemaker --region {self.region}` makes one)",
            )
            return
        if self.full:
            from botocore.exceptions import ClientError

            key = f"{self.settings.prefix if self.settings else 'cloudauto'}/.cloudauto-doctor"
            try:
                _call(s3.put_object, Bucket=bucket, Key=key, Body=b"cloudauto doctor: may these credentials write here?")
                _call(s3.delete_object, Bucket=bucket, Key=key)
            except (ClientError, CloudautoError) as exc:
                code, message = _code(exc)
                self.add(
                    "bucket",
                    PROBLEM,
                    f"{bucket}: these credentials cannot write to it: {code}: {message}",
                    "allow s3:PutObject on it",
                )
                return
            self.add("bucket", OK, f"{bucket} exists in {self.region} and is writable")
        else:
            self.add("bucket", OK, f"{bucket} exists in {self.region}")

    # quotas
    def _quotas(self) -> None:
        from .compile import cost_basis, instance_type

        spec = self.spec
        instance = instance_type(spec)
        basis = cost_basis(spec)
        need = basis.parallel * basis.instances_per_trial
        why = (
            f"{basis.parallel} trial(s) at once (limits.max_concurrent_trials) × {basis.instances_per_trial} "
            "instance(s) (compute.instance_count)"
        )
        quotas = self._quota_table()
        self._quota(quotas, f"{instance} for training job usage", need, why, "or lower limits.max_concurrent_trials")
        if getattr(spec.compute, "spot", False):
            self._quota(quotas, f"{instance} for spot training job usage", need, why, "or train on demand (compute.spot: false)")
        if self.full:
            from cloudauto.runtime.foundation import serves_on_gpu

            from .endpoint import CPU_SERVING, GPU_SERVING

            serving = GPU_SERVING if serves_on_gpu(spec) else CPU_SERVING  # any trial's: the served one is not known yet
            self._quota(quotas, f"{serving} for endpoint usage", 1, "one instance for `cloudauto deploy` (its default type)", "")

    def _quota_table(self) -> Any:
        """Quota name -> (value, code), applied values first, AWS's defaults for the rest; a Check's text when unreadable."""
        from botocore.exceptions import BotoCoreError, ClientError

        client = self.session.client("service-quotas")
        table: dict[str, tuple[float, str]] = {}
        try:
            for operation in ("list_aws_default_service_quotas", "list_service_quotas"):  # applied values win
                for page in client.get_paginator(operation).paginate(ServiceCode="sagemaker"):
                    for quota in page.get("Quotas", []):
                        table[quota["QuotaName"]] = (float(quota.get("Value", 0)), quota.get("QuotaCode", ""))
        except (ClientError, CloudautoError) as exc:
            code, message = _code(exc)
            if code in _DENIED:
                return f"these credentials may not use servicequotas:ListServiceQuotas ({code})"
            return f"Service Quotas answered {code}: {message}"
        except BotoCoreError as exc:
            from .submit import one_line

            return f"Service Quotas not reached: {one_line(exc)}"
        return table if table else "Service Quotas lists no SageMaker quota here"

    def _quota(self, quotas: Any, name: str, need: int, why: str, lower: str) -> None:
        if isinstance(quotas, str):
            self.add("quota", WARNING, f"'{name}' not read: {quotas}; this job needs {need}")
            return
        instance, _, usage = name.partition(" for ")
        if name not in quotas:
            self.add(
                "instance type",
                PROBLEM,
                f"SageMaker offers no {instance} for {usage.removesuffix(' usage')} in {self.region} (it has no quota '{name}')",
                f"choose an instance type offered in {self.region} (the Service Quotas console lists them), or another region",
            )
            return
        value, code = quotas[name]
        figure = f"{value:g} instance{'' if value == 1 else 's'}"
        if value >= need:
            self.add("quota", OK, f"'{name}' is {figure} in {self.region}, at least the {need} needed")
            return
        console = f"https://{self.region}.console.aws.amazon.com/servicequotas/home/services/sagemaker/quotas/{code}"
        self.add(
            "quota",
            PROBLEM,
            f"the account's Service Quota '{name}' ({code}) is {figure} in {self.region}; this needs {need}: {why}",
            f"ask for {need} or more: aws service-quotas request-service-quota-increase --service-code sagemaker "
            f"--quota-code {code} --desired-value {need} --region {self.region} (or the Service Quotas console, {console})"
            + (f"; {lower}" if lower else ""),
        )

    # images
    def _images_used(self) -> list[tuple[str, str]]:
        """(URI, what it is) of the training and serving images; ImageError/CompileError propagate to _images."""
        from cloudauto.runtime.foundation import serves_on_gpu
        from cloudauto.runtime.versions import AUTOGLUON_VERSION

        from .compile import _Problems, command_image, image_uri, instance_type
        from .endpoint import CPU_SERVING, GPU_SERVING

        try:
            if self.spec is None:
                account = images.account(self.region)
                return [
                    (images.find("autogluon", AUTOGLUON_VERSION, scope, CPU_SERVING).uri(account, self.region), scope)
                    for scope in ("training", "inference")
                ]
            instance = instance_type(self.spec)
            if self.spec.engine.value == "command":
                return [(command_image(self.spec, self.region, instance, _Problems())[0], "training")]
            serving = GPU_SERVING if serves_on_gpu(self.spec) else CPU_SERVING
            return [
                (image_uri(self.spec, self.region, instance)[0], "training"),
                (image_uri(self.spec, self.region, serving, scope="inference")[0], "inference"),
            ]
        except (images.ImageError, CloudautoError):
            return []

    def _images(self) -> None:
        from cloudauto.runtime.versions import AUTOGLUON_VERSION

        version = (self.settings.framework_version if self.settings else None) or AUTOGLUON_VERSION
        try:
            images.account(self.region)
        except images.ImageError:
            return  # the region check said so
        from .compile import image_uri, instance_type

        try:
            if self.spec is not None and self.spec.engine.value != "command":
                image_uri(self.spec, self.region, instance_type(self.spec))
        except CloudautoError as exc:
            self.add(
                "images", PROBLEM, str(exc).splitlines()[-1].strip(), "pin backends.sagemaker.framework_version to a known one"
            )
            return
        used = self._images_used()
        if not used:
            self.add("images", PROBLEM, f"no AutoGluon {version} image is in cloudauto's table for {self.region}")
            return
        self.add("images", OK, "; ".join(f"{scope} {uri}" for uri, scope in used) + f" ({images.PROVENANCE})")


def trusts_sagemaker(document: Any) -> bool:
    """Whether a trust policy lets sagemaker.amazonaws.com call sts:AssumeRole (an Allow statement, without a Deny)."""
    statements = document.get("Statement", []) if isinstance(document, dict) else []
    statements = [statements] if isinstance(statements, dict) else statements

    def listed(value: Any) -> list[str]:
        return [value] if isinstance(value, str) else list(value or [])

    def covers(statement: dict) -> bool:
        services = (
            listed((statement.get("Principal") or {}).get("Service")) if isinstance(statement.get("Principal"), dict) else []
        )
        actions = listed(statement.get("Action"))
        return "sagemaker.amazonaws.com" in services and any(a in ("sts:AssumeRole", "sts:*", "*") for a in actions)

    allowed = any(s.get("Effect") == "Allow" and covers(s) for s in statements)  # a Condition is the owner's to keep
    denied = any(s.get("Effect") == "Deny" and covers(s) for s in statements)
    return allowed and not denied


def doctor(spec: Optional[JobSpec] = None, *, region: Optional[str] = None) -> list[Check]:
    return _Run(spec, full=True, region=region).run()


def preflight(spec: JobSpec) -> list[Check]:
    """The checks that concern this job, before anything is uploaded: no probe write, no endpoint quota."""
    return _Run(spec, full=False).run()


__all__ = ["NO_ROLE", "doctor", "preflight", "trusts_sagemaker"]
