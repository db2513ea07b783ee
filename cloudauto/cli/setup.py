"""`cloudauto setup BACKEND` and `cloudauto teardown BACKEND`: what a cloud needs before a first job, made and removed by tag.

Each backend's subcommand passes its options to that backend's `setup` / `teardown` through the registry.
"""

from __future__ import annotations

from typing import Optional

import click

from .app import echo, main


@main.group()
def setup() -> None:
    """Create what a backend's jobs need (idempotent; run it again to check)."""


@main.group()
def teardown() -> None:
    """Remove what `cloudauto setup` made, and only that."""


@setup.command(name="sagemaker")
@click.option("--region", help="The AWS region (default: AWS_REGION, AWS_DEFAULT_REGION, the profile's).")
@click.option("--bucket", help="The S3 bucket (default: cloudauto-ACCOUNT-REGION).")
@click.option("--role-name", help="The IAM role (default: cloudauto-sagemaker-REGION).")
@click.option(
    "--print", "print_only", is_flag=True, help="Print a CloudFormation template of the same bucket and role; call no AWS API."
)
def setup_sagemaker(region: Optional[str], bucket: Optional[str], role_name: Optional[str], print_only: bool) -> None:
    """An S3 bucket and an IAM role SageMaker jobs, endpoints and batch transforms use; prints the lines to export.

    What it did goes to stderr and the `export` lines to stdout, so `eval "$(cloudauto setup sagemaker)"` sets them.
    The role ARN is printed as it is (output elsewhere hides role ARNs): printing it is this command's purpose.
    """
    import json
    import os

    from ..registry import get_backend

    get_backend("sagemaker")  # the plugin is installed, or exit 3 saying how to install it
    if print_only:
        from cloudauto_sagemaker.setup import cloudformation

        chosen = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        if not chosen:
            raise click.UsageError("--print needs the region (its Deep Learning Container registry): --region REGION")
        click.echo(json.dumps(cloudformation(chosen), indent=2))
        echo(
            "deploy it with: aws cloudformation deploy --template-file cloudauto-sagemaker.json --stack-name cloudauto-sagemaker "
            f"--capabilities CAPABILITY_NAMED_IAM --region {chosen}; its outputs are SAGEMAKER_ROLE and SAGEMAKER_BUCKET",
            err=True,
        )
        return
    from cloudauto_sagemaker.setup import setup as make

    said, settings = make(region=region, bucket=bucket, role_name=role_name)
    for line in said:
        echo(line, err=True)
    echo("put these in your environment (or backends.sagemaker.role / bucket / region in the spec):", err=True)
    for name, value in settings.items():
        click.echo(f"export {name}={value}")


@teardown.command(name="sagemaker")
@click.option("--region", help="The AWS region setup ran in.")
@click.option("--bucket", help="The bucket setup made (default: cloudauto-ACCOUNT-REGION).")
@click.option("--role-name", help="The role setup made (default: cloudauto-sagemaker-REGION).")
@click.option("--force", is_flag=True, help="Delete the bucket even though it holds objects (the jobs' data and models).")
def teardown_sagemaker(region: Optional[str], bucket: Optional[str], role_name: Optional[str], force: bool) -> None:
    """Remove the bucket and role `setup sagemaker` made (by their tags); a bucket holding objects only with --force."""
    from ..registry import get_backend

    for line in get_backend("sagemaker").teardown(region=region, bucket=bucket, role_name=role_name, force=force):
        echo(line)
