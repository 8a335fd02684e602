"""One interface for running independent jobs (MD runs, training runs) locally or on Slurm.

    ex = get_executor("local", max_workers=1)          # sequential in this process
    ex = get_executor("local", max_workers=2)          # small process pool
    ex = get_executor("slurm", folder="results/slurm", slurm_partition="gpu", timeout_min=600,
                      gpus_per_node=1, cpus_per_task=8)  # submitit on a cluster
    results = ex.map(run_md, [dict(temperature_K=T) for T in (400, 450)])

Jobs are plain top-level functions called with keyword arguments, so they pickle for a
process pool and for submitit. Failures are returned as :class:`JobFailure` objects (not
raised) so one blown-up run does not hide the others.
"""

from __future__ import annotations

import traceback
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

__all__ = ["JobFailure", "LocalExecutor", "SlurmExecutor", "get_executor"]


@dataclass(frozen=True)
class JobFailure:
    """A job that raised: its kwargs, the exception type/message and the traceback."""

    kwargs: dict
    error: str
    message: str
    traceback: str


def _call(fn: Callable, kwargs: Mapping[str, Any]):
    try:
        return fn(**kwargs)
    except Exception as exc:  # noqa: BLE001 - reported, not swallowed
        return JobFailure(dict(kwargs), type(exc).__name__, str(exc), traceback.format_exc())


class LocalExecutor:
    """Run jobs in this process (``max_workers=1``) or a small process pool."""

    backend = "local"

    def __init__(self, max_workers: int = 1):
        self.max_workers = int(max_workers)

    def map(self, fn: Callable, jobs: Sequence[Mapping[str, Any]]) -> list:
        if self.max_workers <= 1:
            return [_call(fn, kw) for kw in jobs]
        with ProcessPoolExecutor(self.max_workers) as pool:
            futs = [pool.submit(_call, fn, kw) for kw in jobs]
            return [f.result() for f in futs]


class SlurmExecutor:
    """Submit jobs as a Slurm array through submitit; waits for and returns results.

    ``resources`` are submitit's ``update_parameters`` keywords (``slurm_partition``,
    ``timeout_min``, ``gpus_per_node``, ``cpus_per_task``, ``mem_gb``,
    ``slurm_additional_parameters``...).
    """

    backend = "slurm"

    def __init__(self, folder: str = "results/slurm", **resources):
        import submitit

        self.executor = submitit.AutoExecutor(folder=folder, cluster="slurm")
        self.resources = {"timeout_min": 60, "cpus_per_task": 4, **resources}
        self.executor.update_parameters(**self.resources)

    def job_script(self, fn: Callable, kwargs: Mapping[str, Any]) -> str:
        """The sbatch script submitit would submit for one job (for review and tests)."""
        from submitit.slurm.slurm import _make_sbatch_string

        params = dict(self.executor._executor.parameters)
        return _make_sbatch_string(command="python -u -m submitit.core._submit '%j'",
                                   folder=str(self.executor._executor.folder), **params)

    def map(self, fn: Callable, jobs: Sequence[Mapping[str, Any]]) -> list:
        jobs = list(jobs)
        with self.executor.batch():
            handles = [self.executor.submit(_call, fn, kw) for kw in jobs]
        return [h.result() for h in handles]


def get_executor(backend: str = "local", **kw):
    """``local`` (kw: ``max_workers``) or ``slurm`` (kw: submitit resources)."""
    if backend == "local":
        return LocalExecutor(**kw)
    if backend == "slurm":
        return SlurmExecutor(**kw)
    raise ValueError(f"unknown executor backend {backend!r}: use 'local' or 'slurm'")
