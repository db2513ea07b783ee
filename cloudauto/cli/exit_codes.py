"""The exit codes of the `cloudauto` command: the contract scripts and CI rely on.

The CLI reference (docs/reference/cli.md) is generated from this table, and tests/test_docs.py checks
that every exit code the code raises and tests/test_cli.py expects is in it.
"""

from __future__ import annotations

EXIT_CODES: dict[int, str] = {
    0: "success",
    1: "the spec is invalid (or, with `--strict`, has warnings), also a `--set` value or a spec path that is no "
    "regular file; or its data changed since submit (`resume`, the file named)",
    2: "the backend cannot compile this spec, or does not offer the operation yet; or `prices update` could not read "
    "a price source (the network, or an answer it cannot use; both reasons are said when the Query API and the offer "
    "file fail)",
    3: "the backend is not installed, unknown, or its plugin is broken, or a part the spec needs is not installed (the "
    "local backend's `timeseries` extra, said with its install command), or not set up (no credentials, region or "
    "SageMaker role; a problem `doctor` found or submit's preflight refused, e.g. a quota below the job's need); or no "
    "such job (any id, however long) or no such trial of it (`--trial N`), or its run store cannot be read or written "
    "(a full disk, a read-only folder, a corrupt `run.db`: the file and the cause are named); `mlflow` without mlflow "
    "installed, or with a tracking store it cannot use (a folder MLflow refuses, a server not reachable: the URI is named)",
    4: "the job ended without completing (failed, canceled), or its scheduler is gone (resume it); the job has no "
    "model to `deploy`, `predict` or `best` with, or its trial saved no file for `trials --trial N --models`/"
    "`--importance` (the reason is said); a batch failed, was interrupted, or has rows that failed; a cloud batch's "
    "`--keep-columns` that do not line up with its answers, or whose local input changed since the upload (nothing written)",
    5: "scoring failed or the endpoint cannot be found / started",
    6: "`--timeout` passed: cloudauto stopped waiting and the job goes on running; or `resume` found the job run by "
    "another live scheduler (named): nothing was started; or `delete` found the job in use (its scheduler, an "
    "endpoint, a batch, or a `run` still reading its results, named): nothing was deleted; or `teardown sagemaker` "
    "found the role or bucket in use by a running job or an endpoint (named): nothing was removed",
    64: "bad command-line usage (also `init`: a table that is missing, unreadable or of one row, a label not in it, "
    "an `-o` that exists without `--force`), an output path (`-o`, `--result`) whose folder does not exist or whose "
    "kind the command cannot write (`report -o x.csv`, `predict -o` a folder, its own input or a file inside the input folder), an input `predict` "
    "cannot read (missing, or not CSV/Parquet), `--keep-columns` naming a column twice or one the answer has "
    "(`prediction`, `proba_*`, `error`) or on a cloud batch's s3:// or azureml:// input, or an endpoint name the "
    "backend does not take (`deploy --name`); "
    "`teardown sagemaker` of a bucket that holds objects, without `--force`",
    70: "an internal error (a bug; `CLOUDAUTO_DEBUG=1` shows the traceback)",
    130: "interrupted (Ctrl-C)",
}

__all__ = ["EXIT_CODES"]
