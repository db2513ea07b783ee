"""Per-backend settings as typed models, so a typo is an error and not a silently dropped kwarg.

The three built-in backends are known here (which also puts them in the JSON Schema for
editors); a third-party plugin's settings pass through as a mapping and are validated by
that plugin's `settings_model` when it compiles.
"""

from __future__ import annotations

from enum import Enum
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from .types import DataURI, new_dict


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)


class LocalMode(str, Enum):
    PROCESS = "process"
    DOCKER = "docker"


class MlflowSettings(_Settings):
    tracking_uri: str = Field(
        ..., min_length=1, description="Where the sweep is recorded: a folder, file:// or sqlite:/// URI, or a server"
    )
    experiment_name: Optional[str] = Field(None, min_length=1, description="Default: the spec's name")


class LocalSettings(_Settings):
    mode: LocalMode = Field(LocalMode.PROCESS, description="process: trials in local processes; docker: each trial in a container")
    image: Optional[str] = Field(None, min_length=1, description="Container image for docker mode")
    workers: Optional[int] = Field(None, ge=1, le=256, description="Worker processes; default max_concurrent_trials")
    run_dir: Optional[str] = Field(
        None, min_length=1, description="Where this job's files are kept (relative to the spec); default <CLOUDAUTO_HOME>/runs"
    )
    mlflow: Optional[MlflowSettings] = Field(None, description="Record the sweep in MLflow: a parent run, a child run per trial")


class SageMakerSettings(_Settings):
    role: Optional[str] = Field(None, min_length=1, description="IAM role ARN for the training jobs")
    bucket: Optional[str] = Field(None, min_length=3, max_length=63, description="S3 bucket for staging and outputs")
    prefix: str = Field("cloudauto", description="S3 key prefix")
    region: Optional[str] = Field(
        None, pattern=r"^[a-z]{2}(-[a-z]+)+-\d$", description="AWS region; default: AWS_REGION, else AWS_DEFAULT_REGION, else us-east-1"
    )
    instance_type: Optional[str] = Field(None, pattern=r"^ml\.", description="Overrides compute.instance_type (ml.*)")
    data: dict[Literal["train", "validation", "test", "static_features"], DataURI] = Field(
        default_factory=new_dict, description="Where the same data sits in S3, when data: points elsewhere (azureml://)"
    )
    image_uri: Optional[str] = Field(None, min_length=1, description="Pin a full training image URI (ECR)")
    serving_image_uri: Optional[str] = Field(
        None, min_length=1, description="Pin the endpoint's image URI; default image_uri, else the AutoGluon DLC"
    )
    framework_version: Optional[str] = Field(
        None, pattern=r"^\d+\.\d+(\.\d+)?$", description="AutoGluon DLC version; default cloudauto's one AutoGluon release"
    )
    strategy: Optional[str] = Field(
        None, pattern=r"^(Bayesian|Random|Grid|Hyperband)$", description="Override the tuning strategy"
    )
    volume_size_gb: int = Field(30, ge=1, le=16384, description="Storage volume per training instance (GB)")
    price_per_hour: Optional[float] = Field(
        None,
        gt=0,
        lt=10_000,
        allow_inf_nan=False,
        description="USD per instance-hour of the training instance type (overrides the price tables; above 0, below 10,000)",
    )


class AzureMLSettings(_Settings):
    compute: Optional[str] = Field(None, min_length=1, description="Compute cluster name")
    subscription_id: Optional[str] = Field(None, description="Azure subscription; default: AZURE_SUBSCRIPTION_ID, else config.json")
    resource_group: Optional[str] = Field(None, description="Resource group of the workspace; default: AZURE_RESOURCE_GROUP, else config.json")
    workspace: Optional[str] = Field(None, description="Azure ML workspace name; default: AZUREML_WORKSPACE_NAME, else config.json")
    experiment_name: Optional[str] = Field(None, description="Experiment the job is filed under; default: the spec's name")
    environment: Optional[str] = Field(None, description="Environment for sweep trials (azureml:name:version)")
    vm_size: Optional[str] = Field(
        None, pattern=r"^Standard_", description="The compute cluster's VM size (e.g. Standard_DS3_v2), for the cost estimate"
    )
    location: Optional[str] = Field(None, min_length=1, description="The workspace's region (e.g. eastus), for the cost estimate")
    price_per_hour: Optional[float] = Field(
        None,
        gt=0,
        lt=10_000,
        allow_inf_nan=False,
        description="USD per node-hour of the compute cluster's VM size (overrides the price tables; above 0, below 10,000)",
    )


BUILTIN_SETTINGS: dict[str, type[BaseModel]] = {
    "local": LocalSettings,
    "sagemaker": SageMakerSettings,
    "azureml": AzureMLSettings,
}


class BackendSettings(BaseModel):
    model_config = ConfigDict(extra="allow", defer_build=True)

    local: LocalSettings = Field(default_factory=lambda: LocalSettings(), description="The local backend: processes or docker mode")
    sagemaker: SageMakerSettings = Field(default_factory=lambda: SageMakerSettings(), description="SageMaker: role, bucket, region, images")
    azureml: AzureMLSettings = Field(default_factory=lambda: AzureMLSettings(), description="Azure ML: workspace, compute cluster, environment")

    @model_validator(mode="before")
    @classmethod
    def _known_backends(cls, raw: Any) -> Any:
        if not isinstance(raw, dict):
            return raw
        unknown = [k for k in raw if k not in BUILTIN_SETTINGS]
        if unknown:
            from ..registry import available_backends, suggest

            installed = available_backends()
            for key in unknown:
                if key in installed:
                    if not isinstance(raw[key], dict):
                        raise PydanticCustomError(
                            "backend_settings", "settings of backend '{key}' must be a mapping", {"key": key}
                        )
                    continue
                valid = sorted(set(BUILTIN_SETTINGS) | set(installed))
                raise PydanticCustomError(
                    "unknown_backend",
                    "'{key}' is not a backend cloudauto knows; {hint}valid: {valid}",
                    {"key": key, "hint": suggest(str(key), valid), "valid": ", ".join(valid)},
                )
        return raw

    def for_backend(self, name: str) -> Any:
        return getattr(self, name, None) if name in BUILTIN_SETTINGS else (self.model_extra or {}).get(name, {})


__all__ = ["AzureMLSettings", "BUILTIN_SETTINGS", "BackendSettings", "LocalMode", "LocalSettings", "SageMakerSettings"]
