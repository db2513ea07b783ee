"""cloudauto-local: run a spec's trials on this machine."""

from .backend import LocalBackend

__all__ = ["LocalBackend"]
