"""Where the local backend keeps its jobs and endpoints: one rule, the same from any folder.

`CLOUDAUTO_HOME` when set, else the per-user data folder (`~/.local/share/cloudauto` on
Linux). Jobs are under `<home>/runs/<job-id>`, endpoints under `<home>/endpoints`. A spec's
`backends.local.run_dir` puts one job's files elsewhere; the home keeps a link to it, so
`status`, `report` and `resume` still find the job by its id wherever they run.
"""

from __future__ import annotations

import os
from pathlib import Path

HOME_ENV = "CLOUDAUTO_HOME"


def home() -> Path:
    configured = os.environ.get(HOME_ENV)
    if configured:
        return Path(configured).expanduser().resolve()
    import platformdirs

    return Path(platformdirs.user_data_dir("cloudauto", appauthor=False)).resolve()


def runs_home() -> Path:
    return home() / "runs"


def endpoints_dir() -> Path:
    return home() / "endpoints"


__all__ = ["HOME_ENV", "endpoints_dir", "home", "runs_home"]
