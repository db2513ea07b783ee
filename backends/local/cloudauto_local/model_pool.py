"""Copies of a model in worker processes behind the endpoint's one event loop.

Each request goes to whichever copy is free, as a model server's front end hands requests
to its backend workers. uvicorn's own `workers` would not do: they share the listening
socket and each keeps the connections it accepted, so two keep-alive clients often land on
one worker, which then serves both while the other idles.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Optional

from cloudauto.runtime.inference import BadRequest

_model: Any = None  # the worker process's model, loaded once by _load


def _load(model_dir: str, threads: int) -> None:
    # OpenMP reads this when LightGBM loads, so before the model: workers that each spread
    # over every core would fight for them
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    from cloudauto.runtime.inference import Model

    global _model
    _model = Model(model_dir)


def _describe(hold: float) -> tuple[int, str, list[str]]:
    time.sleep(hold)  # keep this worker busy, so the next warm-up call goes to another
    return os.getpid(), _model.kind, _model.features


def _handle(body: bytes, content_type: Optional[str], accept: Optional[str], probabilities: bool) -> tuple[Any, ...]:
    """Outcomes as plain tuples: an exception with extra fields does not survive pickling whole."""
    try:
        data, kind = _model.handle(body, content_type, accept, probabilities)
    except BadRequest as exc:
        return False, exc.status, str(exc)
    except Exception as exc:  # a real fault: the front end answers 500 with it
        return False, 500, f"{type(exc).__name__}: {exc}"
    return True, data, kind


class ModelPool:
    """`workers` processes, each with the model loaded and cores // workers OpenMP threads."""

    def __init__(self, model_dir: str, workers: int):
        self.model_dir, self.workers = model_dir, workers
        self.threads = max(1, len(os.sched_getaffinity(0)) // workers)
        self._executor = self._start()

    def _start(self) -> ProcessPoolExecutor:
        executor = ProcessPoolExecutor(
            self.workers,
            mp_context=multiprocessing.get_context("spawn"),  # no fork of a process running an event loop
            initializer=_load,
            initargs=(self.model_dir, self.threads),
        )
        # every worker starts and loads the model before the endpoint answers /ping
        answers = list(executor.map(_describe, [0.5] * self.workers))
        self.pids = sorted({pid for pid, _, _ in answers})
        _, self.kind, self.features = answers[0]
        return executor

    async def handle(
        self, body: bytes, content_type: Optional[str], accept: Optional[str], probabilities: bool = False
    ) -> tuple[bytes, str]:
        executor = self._executor
        loop = asyncio.get_running_loop()
        try:
            ok, first, second = await loop.run_in_executor(executor, _handle, body, content_type, accept, probabilities)
        except BrokenProcessPool:
            if executor is self._executor:  # the first request to see it restarts the workers
                self._executor = self._start()
            raise BadRequest("a model worker died and the workers were restarted; send the request again", status=503) from None
        if ok:
            return first, second
        if first >= 500:
            raise RuntimeError(f"in a model worker: {second}")
        raise BadRequest(second, status=first)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


__all__ = ["ModelPool"]
