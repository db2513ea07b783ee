"""The autogluon.tabular extras a spec's tabular foundation families import, for the clouds' environments.

AutoGluon fits and loads TabICL, TabDPT, TabPFN(Mix) and Mitra through packages of their own
(`autogluon.tabular[tabicl]` ...). Azure ML's default environment is built from cloudauto's pins,
so it pins them all; the AWS AutoGluon images install `autogluon` (autogluon.tabular[all], which
holds Mitra's but not `tabicl, tabdpt, tabpfn, tabpfnmix`: AutoGluon's install docs), so a
SageMaker bundle's requirements.txt names the others, which the training and serving toolkits
install before the entry runs. Standard library only at import time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from ..spec.metrics import Task

if TYPE_CHECKING:  # pragma: no cover
    from ..spec.models import JobSpec

# the extras `pip install autogluon` (the AWS images) already holds: autogluon.tabular[all]
IN_ALL = frozenset({"lightgbm", "catboost", "xgboost", "fastai", "tabm", "mitra", "ray"})
# families whose extra is not written in foundation.TABULAR_PACKAGES
FAMILY_EXTRAS = {"TABPFNMIX": "tabpfnmix"}


def tabular_extras(spec: Optional[JobSpec]) -> tuple[str, ...]:
    """The autogluon.tabular extras of the tabular foundation families the spec's trials can fit (sorted)."""
    if spec is None or spec.task not in (Task.TABULAR_CLASSIFICATION, Task.TABULAR_REGRESSION):
        return ()
    from .foundation import TABULAR_PACKAGES, chosen_families

    def extra(fam: str) -> Optional[str]:
        pin = TABULAR_PACKAGES.get(fam, ((), ""))[1]
        return FAMILY_EXTRAS.get(fam) or pin.partition("[")[2].rstrip("]") or None

    return tuple(sorted({e for _, fam, _ in chosen_families(spec) for e in [extra(fam)] if e}))


def image_requirements(spec: Optional[JobSpec]) -> list[str]:
    """requirements.txt lines for what an AWS AutoGluon image lacks of the spec's extras (AutoGluon's own bounds)."""
    from .versions import AUTOGLUON_VERSION

    missing = [e for e in tabular_extras(spec) if e not in IN_ALL]
    return [f"autogluon.tabular[{','.join(missing)}]=={AUTOGLUON_VERSION}"] if missing else []


__all__ = ["IN_ALL", "image_requirements", "tabular_extras"]
