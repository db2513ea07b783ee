"""cloudauto-sagemaker: SageMaker hyperparameter tuning jobs on the AWS AutoGluon containers."""

from .backend import SageMakerBackend

__all__ = ["SageMakerBackend"]
