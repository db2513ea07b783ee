"""The `cloudauto` command: a thin layer over the Python API.

Exit codes (the table in exit_codes.py, which docs/reference/cli.md is generated from;
tests/test_cli.py::test_every_command_exits_as_the_readme_table_says):
0 ok; 1 the spec is invalid; 2 the backend cannot compile the spec (or a warning under --strict);
3 the backend is not installed or not set up (credentials, region, SageMaker role), or no such job
or trial (or its run store cannot be read or written);
4 the job ended without completing (failed, canceled, or its scheduler is gone), has no model
to serve or score with, or a batch failed; 5 scoring failed or the endpoint cannot be found or
started; 6 --timeout passed and the job goes on running (or `resume` found another live
scheduler running it); 64 bad command-line usage (an output or input path, an endpoint name);
70 an internal error (a bug: please report it).

Everything printed and every file written passes through cloudauto.secrets: a key, token or
role ARN from the environment appears as <secret:NAME>.

The commands live by noun in this package (specs, jobs, endpoints, batch, prices, setup, doctor, init,
housekeeping); each registers its commands on the one group in app.py when it is imported, which the group
does when one of them is run or all are listed (app.COMMANDS).
"""

from __future__ import annotations

from .app import main

__all__ = ["main"]
