"""The job spec: models, search space, metrics, loading and validation."""

from .errors import SpecError, SpecIssue
from .loader import load_spec, load_spec_text, validate_data
from .metrics import Goal, Metric, Task
from .models import Engine, JobSpec, Sampling

__all__ = [
    "Engine",
    "Goal",
    "JobSpec",
    "Metric",
    "Sampling",
    "SpecError",
    "SpecIssue",
    "Task",
    "load_spec",
    "load_spec_text",
    "validate_data",
]
