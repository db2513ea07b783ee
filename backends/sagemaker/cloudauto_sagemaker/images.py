"""The AWS Deep Learning Container images cloudauto runs on SageMaker: tags that exist.

The sagemaker SDK's image config is stale for AutoGluon (it lists nothing after 1.5.0 and
says py311 where the images are py312, with an OS suffix it leaves out), so the tags here
are read from the DLC repository's release files instead; only the registry account of a
region comes from the SDK's config, which lists the same DLC accounts for every framework.

Checked 2026-12-01 in aws/deep-learning-containers:
- docs/src/data/autogluon/1.6-{cpu,gpu}-sagemaker.yml and the AutoGluon images' changelog
  ("AutoGluon 1.6.3 — 2026-10-02", tags 1.6.3-cpu-amzn2023 / 1.6.3-cu133-amzn2023): one
  image, repository `autogluon`, for training and serving; PyTorch 2.13, Python 3.12.
- docs/src/data/autogluon-{training,inference}/1.{4,5}-{cpu,gpu}-sagemaker.yml.
- docs/src/data/pytorch-training/2.{9,10}-{cpu,gpu}-sagemaker.yml (for engine: command).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

CHECKED = "2026-12-01"
SOURCE = "aws/deep-learning-containers release files"
PROVENANCE = f"tag from the {SOURCE}, checked {CHECKED}"


@dataclass(frozen=True)
class Image:
    framework: str  # autogluon | pytorch
    version: str  # the framework release inside the image
    scopes: tuple[str, ...]  # training, inference
    accelerator: str  # cpu | gpu
    repository: str
    tag: str
    python: str
    os: str

    def uri(self, account: str, region: str) -> str:
        domain = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
        return f"{account}.dkr.ecr.{region}.{domain}/{self.repository}:{self.tag}"


_BOTH = ("training", "inference")
IMAGES: tuple[Image, ...] = (
    Image("autogluon", "1.6.3", _BOTH, "cpu", "autogluon", "1.6.3-cpu-amzn2023", "py312", "amzn2023"),
    Image("autogluon", "1.6.3", _BOTH, "gpu", "autogluon", "1.6.3-cu133-amzn2023", "py312", "amzn2023"),
    Image(
        "autogluon", "1.5.0", ("training",), "cpu", "autogluon-training", "1.5.0-cpu-py312-ubuntu22.04", "py312", "ubuntu22.04"
    ),
    Image(
        "autogluon",
        "1.5.0",
        ("training",),
        "gpu",
        "autogluon-training",
        "1.5.0-gpu-py312-cu126-ubuntu22.04",
        "py312",
        "ubuntu22.04",
    ),
    Image(
        "autogluon", "1.5.0", ("inference",), "cpu", "autogluon-inference", "1.5.0-cpu-py312-ubuntu22.04", "py312", "ubuntu22.04"
    ),
    Image(
        "autogluon",
        "1.5.0",
        ("inference",),
        "gpu",
        "autogluon-inference",
        "1.5.0-gpu-py312-cu124-ubuntu22.04",
        "py312",
        "ubuntu22.04",
    ),
    Image(
        "autogluon", "1.4.0", ("training",), "cpu", "autogluon-training", "1.4.0-cpu-py311-ubuntu22.04", "py311", "ubuntu22.04"
    ),
    Image(
        "autogluon",
        "1.4.0",
        ("training",),
        "gpu",
        "autogluon-training",
        "1.4.0-gpu-py311-cu124-ubuntu22.04",
        "py311",
        "ubuntu22.04",
    ),
    Image(
        "autogluon", "1.4.0", ("inference",), "cpu", "autogluon-inference", "1.4.0-cpu-py311-ubuntu22.04", "py311", "ubuntu22.04"
    ),
    Image(
        "autogluon",
        "1.4.0",
        ("inference",),
        "gpu",
        "autogluon-inference",
        "1.4.0-gpu-py311-cu124-ubuntu22.04",
        "py311",
        "ubuntu22.04",
    ),
    Image(
        "pytorch",
        "2.10.0",
        ("training",),
        "cpu",
        "pytorch-training",
        "2.10.0-cpu-py313-ubuntu22.04-sagemaker",
        "py313",
        "ubuntu22.04",
    ),
    Image(
        "pytorch",
        "2.10.0",
        ("training",),
        "gpu",
        "pytorch-training",
        "2.10.0-gpu-py313-cu130-ubuntu22.04-sagemaker",
        "py313",
        "ubuntu22.04",
    ),
    Image(
        "pytorch",
        "2.9.0",
        ("training",),
        "cpu",
        "pytorch-training",
        "2.9.0-cpu-py312-ubuntu22.04-sagemaker",
        "py312",
        "ubuntu22.04",
    ),
    Image(
        "pytorch",
        "2.9.0",
        ("training",),
        "gpu",
        "pytorch-training",
        "2.9.0-gpu-py312-cu130-ubuntu22.04-sagemaker",
        "py312",
        "ubuntu22.04",
    ),
)

# instance families without a GPU (the rest of ml.* that cloudauto defaults to have one: g, p, and trn/inf are refused)
_GPU_FAMILIES = ("ml.g", "ml.p")


class ImageError(ValueError):
    pass


def accelerator(instance_type: str) -> str:
    return "gpu" if instance_type.startswith(_GPU_FAMILIES) else "cpu"


def _parts(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


def versions(framework: str) -> list[str]:
    return sorted({i.version for i in IMAGES if i.framework == framework}, key=_parts)


def find(framework: str, version: str, scope: str, instance_type: str) -> Image:
    """The image of `framework` `version` ("1.6" means its newest 1.6.x here) for the scope and instance."""
    wanted = accelerator(instance_type)
    known = [v for v in versions(framework) if v == version or v.startswith(version + ".")]
    if not known:
        raise ImageError(
            f"no {framework} {version} DLC image is known to cloudauto (checked {CHECKED}): "
            f"known versions {', '.join(versions(framework))}; pin one with backends.sagemaker.image_uri"
        )
    chosen = max(known, key=_parts)
    for image in IMAGES:
        if image.framework == framework and image.version == chosen and scope in image.scopes and image.accelerator == wanted:
            return image
    raise ImageError(f"no {wanted} {scope} image of {framework} {chosen} is known to cloudauto (checked {CHECKED})")


def account(region: str) -> str:
    """The DLC registry account of a region, from the sagemaker SDK's image config (offline)."""
    import json
    from pathlib import Path

    from sagemaker.core import image_uris

    config = json.loads((Path(image_uris.__file__).parent / "image_uri_config" / "autogluon.json").read_text())
    registries = next(iter(config["training"]["versions"].values()))["registries"]
    if region not in registries:
        raise ImageError(f"region {region} has no Deep Learning Container registry (known: {', '.join(sorted(registries))})")
    return registries[region]


def pytorch_for(installed: Optional[str]) -> tuple[str, str]:
    """(the PyTorch DLC version for an installed torch, why): the same minor where one exists, else the newest."""
    known = versions("pytorch")
    if installed:
        minor = ".".join(installed.split("+")[0].split(".")[:2])
        same = [v for v in known if v.startswith(minor + ".")]
        if same:
            return same[-1], f"torch {installed} is installed here"
        return known[
            -1
        ], f"torch {installed} is installed here and no PyTorch {minor} training DLC exists; the newest is {known[-1]}"
    return known[-1], "torch is not installed here: the newest PyTorch training DLC"


__all__ = [
    "CHECKED",
    "IMAGES",
    "Image",
    "ImageError",
    "PROVENANCE",
    "SOURCE",
    "account",
    "accelerator",
    "find",
    "pytorch_for",
    "versions",
]
