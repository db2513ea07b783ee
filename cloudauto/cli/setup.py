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

    What it did goes to stderr and the `export` lines to stdout, so `eval "$(cloudauto setup sagemaker)"` sets them;
    with --print, stdout is the template alone (`> cloudauto-sagemaker.json`).
    The role ARN is printed as it is (output elsewhere hides role ARNs): printing it is this command's purpose.
    """
    from ..registry import get_backend

    lines = get_backend("sagemaker").setup(region=region, bucket=bucket, role_name=role_name, print_only=print_only)
    for index, line in enumerate(lines):  # stdout: the template (--print) or the export lines; stderr: what was done
        if (print_only and index == 0) or line.startswith("export "):
            click.echo(line)
        else:
            echo(line, err=True)


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


@setup.command("azureml")
@click.option("--compute", metavar="NAME", help="The cluster's name (default cpu-cluster).")
@click.option("--vm-size", metavar="SIZE", help="Its VM size, for a new cluster (default Standard_DS3_v2).")
@click.option("--max-nodes", type=click.IntRange(1, 1000), metavar="N", help="The most nodes it grows to (default 4).")
def setup_azureml(compute: Optional[str], vm_size: Optional[str], max_nodes: Optional[int]) -> None:
    """Reach the workspace and make a compute cluster that scales to zero (found, not changed, on a second run)."""
    from ..registry import get_backend

    for line in get_backend("azureml").setup(compute=compute, vm_size=vm_size, max_nodes=max_nodes):
        echo(line)


@teardown.command("azureml")
@click.option("--compute", metavar="NAME", help="Only this cluster (default: every one `setup azureml` made).")
def teardown_azureml(compute: Optional[str]) -> None:
    """Delete the compute clusters `cloudauto setup azureml` made (by their cloudauto:setup tag)."""
    from ..registry import get_backend

    for line in get_backend("azureml").teardown(compute=compute):
        echo(line)
