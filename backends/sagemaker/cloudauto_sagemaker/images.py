"""The AWS Deep Learning Container images cloudauto runs on SageMaker: tags that exist.

The sagemaker SDK's image config is stale for AutoGluon (it lists nothing after 1.5.0 and
says py311 where the images are py312, with an OS suffix it leaves out), so the tags here
are read from the DLC repository's release files instead. The registry account of each
region is a table here too (REGISTRIES): importing the SDK to read it cost about 1 s of every
compile (tests/backends/test_sagemaker_images.py compares the two where the SDK is installed).

Checked 2026-12-01 in aws/deep-learning-containers:
- docs/src/data/autogluon/1.6-{cpu,gpu}-sagemaker.yml and the AutoGluon images' changelog
  ("AutoGluon 1.6.3 — 2026-10-02", tags 1.6.3-cpu-amzn2023 / 1.6.3-cu133-amzn2023): one
  image, repository `autogluon`, for training and serving; PyTorch 2.13, Python 3.12.
- docs/src/data/autogluon-{training,inference}/1.{4,5}-{cpu,gpu}-sagemaker.yml.
- docs/src/data/pytorch-training/2.{9,10}-{cpu,gpu}-sagemaker.yml (for engine: command).
- docs/reference/region_availability.md (commit 18d714e), "Deep Learning Containers", checked
  2026-12-04: the account of each region (REGISTRIES); the two GovCloud regions it leaves out
  are from the sagemaker SDK's image_uri_config (sagemaker 3.27.0, pytorch.json, training
  2.10.0), which agrees with it on every region both list.
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

# region -> the account of its DLC registry (ECR); regions of the isolated partitions (us-iso*, eusc-*),
# whose ECR is not under amazonaws.com(.cn), are left out: uri() could not name their registry
REGISTRIES_CHECKED = "2026-12-04"
REGISTRIES: dict[str, str] = {
    "af-south-1": "626614931356",
    "ap-east-1": "871362719292",
    "ap-east-2": "975050140332",
    "ap-northeast-1": "763104351884",
    "ap-northeast-2": "763104351884",
    "ap-northeast-3": "364406365360",
    "ap-south-1": "763104351884",
    "ap-south-2": "772153158452",
    "ap-southeast-1": "763104351884",
    "ap-southeast-2": "763104351884",
    "ap-southeast-3": "907027046896",
    "ap-southeast-4": "457447274322",
    "ap-southeast-5": "550225433462",
    "ap-southeast-6": "633930458069",
    "ap-southeast-7": "590183813437",
    "ca-central-1": "763104351884",
    "ca-west-1": "204538143572",
    "cn-north-1": "727897471807",
    "cn-northwest-1": "727897471807",
    "eu-central-1": "763104351884",
    "eu-central-2": "380420809688",
    "eu-north-1": "763104351884",
    "eu-south-1": "692866216735",
    "eu-south-2": "503227376785",
    "eu-west-1": "763104351884",
    "eu-west-2": "763104351884",
    "eu-west-3": "763104351884",
    "il-central-1": "780543022126",
    "me-central-1": "914824155844",
    "me-south-1": "217643126080",
    "me-west-1": "124382933778",
    "mx-central-1": "637423239942",
    "sa-east-1": "763104351884",
    "us-east-1": "763104351884",
    "us-east-2": "763104351884",
    "us-gov-east-1": "446045086412",
    "us-gov-west-1": "442386744353",
    "us-west-1": "763104351884",
    "us-west-2": "763104351884",
}

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
    """The DLC registry account of a region (REGISTRIES: no SDK import, offline)."""
    if region not in REGISTRIES:
        raise ImageError(
            f"region {region} has no Deep Learning Container registry known to cloudauto "
            f"(checked {REGISTRIES_CHECKED}; known: {', '.join(sorted(REGISTRIES))}): "
            "pin an image in your region's ECR with backends.sagemaker.image_uri"
        )
    return REGISTRIES[region]


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
    "REGISTRIES",
    "REGISTRIES_CHECKED",
    "SOURCE",
    "account",
    "accelerator",
    "find",
    "pytorch_for",
    "versions",
]
