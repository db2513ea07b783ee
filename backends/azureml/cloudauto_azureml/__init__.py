"""cloudauto-azureml: Azure ML AutoML and sweep jobs through azure-ai-ml v2."""

from .backend import AzureMLBackend

__all__ = ["AzureMLBackend"]
