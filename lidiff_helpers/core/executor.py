"""One interface for running independent jobs (MD runs, training runs) locally or on Slurm.

    ex = get_executor("local", max_workers=1)          # sequential in this process
    ex = get_executor("local", max_workers=2)          # small process pool (spawned)
    ex = get_executor("slurm", folder="results/slurm", slurm_partition="gpu",
                      timeout_min=600, gpus_per_node=1, cpus_per_task=8,
                      setup=["module load cuda"])      # submitit on a cluster
    results = ex.map(run_md_job, [dict(temperature_K=T) for T in (400, 450)])
    print(ex.job_script(n_jobs=2))                     # the sbatch text, no cluster needed

Jobs are plain top-level functions called with keyword arguments, so they pickle for a
process pool and for submitit. Failures are returned as :class:`JobFailure` objects (not
raised) so one blown-up run does not hide the others.

The Slurm backend is submitit's: the jobs of one ``map`` go out as one job array, and each
job is wrapped in a ``submitit.helpers.Checkpointable`` so that a job hitting its time
limit or preempted is requeued with the same arguments (the MD runner resumes from its
own checkpoint). Resources use submitit's generic names (``timeout_min``, ``mem_gb``,
``cpus_per_task``, ``gpus_per_node``, ``nodes``, ``tasks_per_node``) or Slurm ones with
the ``slurm_`` prefix (``slurm_partition``, ``slurm_account``, ``slurm_qos``,
``slurm_additional_parameters``...); ``setup`` lists shell lines run before the job.
:meth:`SlurmExecutor.job_script` renders the exact sbatch file submitit would submit,
with submitit's own template, without needing ``srun``/``sbatch`` (submitit's
``AutoExecutor`` refuses to start without them).
"""

from __future__ import annotations

import shlex
import sys
import traceback
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

__all__ = ["JobFailure", "LocalExecutor", "SlurmExecutor", "get_executor", "executor_from_settings",
           "slurm_parameters", "sbatch_text"]


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
    """Run jobs in this process (``max_workers=1``) or a small process pool.

    The pool uses the ``spawn`` start method (forking a process that already runs torch
    threads can deadlock), so ``fn`` must be importable (a module-level function).
    """

    backend = "local"

    def __init__(self, max_workers: int = 1):
        self.max_workers = int(max_workers)
        if self.max_workers < 1:
            raise ValueError(f"max_workers must be >= 1, got {max_workers}")

    def map(self, fn: Callable, jobs: Sequence[Mapping[str, Any]]) -> list:
        jobs = list(jobs)
        if self.max_workers <= 1 or len(jobs) <= 1:
            return [_call(fn, kw) for kw in jobs]
        import multiprocessing as mp

        with ProcessPoolExecutor(min(self.max_workers, len(jobs)),
                                 mp_context=mp.get_context("spawn")) as pool:
            futs = [pool.submit(_call, fn, kw) for kw in jobs]
            return [f.result() for f in futs]


# ----------------------------------------------------------------------------- Slurm

#: submitit's generic resource names -> Slurm's (``submitit.SlurmExecutor`` equivalences)
_GENERIC = {"timeout_min": "time", "mem_gb": "mem", "nodes": "nodes",
            "cpus_per_task": "cpus_per_task", "gpus_per_node": "gpus_per_node",
            "tasks_per_node": "ntasks_per_node", "name": "job_name"}


def slurm_parameters(resources: Mapping[str, Any]) -> dict:
    """Translate generic / ``slurm_``-prefixed resources into submitit's Slurm parameters.

    Raises
    ------
    ValueError
        for a name neither generic nor a Slurm parameter submitit knows (lists them).
    """
    from submitit.slurm.slurm import _convert_mem, _get_default_parameters

    valid = set(_get_default_parameters())
    out, bad = {}, []
    for k, v in resources.items():
        if k in _GENERIC:
            key = _GENERIC[k]
            out[key] = _convert_mem(v) if key == "mem" else v
        elif k.startswith("slurm_") and k[6:] in valid:
            out[k[6:]] = v
        elif k in valid:
            out[k] = v
        else:
            bad.append(k)
    if bad:
        raise ValueError(f"unknown Slurm resource(s) {sorted(bad)}; use {sorted(_GENERIC)} or "
                         f"slurm_<name> with name in {sorted(valid)}")
    return out


def sbatch_text(command: str, folder: str | Path, resources: Mapping[str, Any],
                n_jobs: int | None = None) -> str:
    """The sbatch file for ``command`` with ``resources`` (submitit's template).

    ``n_jobs`` > 1 makes it a job array ``0-(n_jobs-1)``.
    """
    from submitit.slurm.slurm import _make_sbatch_string

    params = slurm_parameters(resources)
    if n_jobs and n_jobs > 1:
        params["map_count"] = int(n_jobs)
    return _make_sbatch_string(command=command, folder=str(folder), **params)


def _checkpointable():
    import submitit

    class ResumableCall(submitit.helpers.Checkpointable):
        """Requeued on timeout/preemption with the same arguments (the job resumes)."""

        def __call__(self, fn, kwargs):
            return _call(fn, kwargs)

    return ResumableCall


class SlurmExecutor:
    """Submit jobs as one Slurm job array through submitit; waits for and returns results.

    Parameters
    ----------
    folder : where submitit keeps job pickles, logs and results
    cluster : ``slurm`` (default); ``local`` or ``debug`` run the same submitit machinery
        on this machine (subprocesses / in-process), for tests and dry runs
    max_num_timeout : how many times a job that hits its time limit is requeued
    resources : see the module docstring (defaults: 60 min, 4 CPUs per task)
    """

    backend = "slurm"

    def __init__(self, folder: str | Path = "results/slurm", cluster: str = "slurm",
                 max_num_timeout: int = 20, **resources):
        self.folder = Path(folder)
        self.cluster = cluster
        self.max_num_timeout = int(max_num_timeout)
        self.resources = {"timeout_min": 60, "cpus_per_task": 4, **resources}
        slurm_parameters(self.resources)  # validate now, not at submission

    def job_script(self, n_jobs: int = 1) -> str:
        """The sbatch script submitit submits for a ``map`` over ``n_jobs`` jobs."""
        python = shlex.quote(sys.executable)
        command = f"{python} -u -m submitit.core._submit {shlex.quote(str(self.folder / '%j'))}"
        return sbatch_text(command, self.folder / "%j", self.resources, n_jobs=n_jobs)

    def _executor(self):
        import submitit

        ex = submitit.AutoExecutor(folder=self.folder / "%j", cluster=self.cluster,
                                   slurm_max_num_timeout=self.max_num_timeout)
        if self.cluster == "slurm":
            ex.update_parameters(**{k if (k in _GENERIC or k.startswith("slurm_"))
                                    else f"slurm_{k}": v for k, v in self.resources.items()})
        else:
            ex.update_parameters(timeout_min=self.resources["timeout_min"])
        return ex

    def map(self, fn: Callable, jobs: Sequence[Mapping[str, Any]]) -> list:
        jobs = list(jobs)
        if not jobs:
            return []
        ex = self._executor()
        call = _checkpointable()()
        with ex.batch():
            handles = [ex.submit(call, fn, kw) for kw in jobs]
        out = []
        for h, kw in zip(handles, jobs):
            try:
                out.append(h.result())
            except Exception as exc:  # noqa: BLE001 - e.g. the job was killed by Slurm
                out.append(JobFailure(dict(kw), type(exc).__name__,
                                      f"Slurm job {h.job_id}: {exc}", traceback.format_exc()))
        return out


def get_executor(backend: str = "local", **kw):
    """``local`` (kw: ``max_workers``) or ``slurm`` (kw: folder, cluster, resources)."""
    if backend == "local":
        return LocalExecutor(**kw)
    if backend == "slurm":
        return SlurmExecutor(**kw)
    raise ValueError(f"unknown executor backend {backend!r}: use 'local' or 'slurm'")


def executor_from_settings(backend: str, *, max_workers: int = 1,
                           slurm_resources: Mapping[str, Any] | None = None,
                           folder: str | Path = "results/slurm"):
    """An executor from notebook profile settings: ``local`` with ``max_workers``, or
    ``slurm`` with ``slurm_resources`` (jobs' files under ``folder``)."""
    if backend == "local":
        return LocalExecutor(max_workers=max_workers)
    if backend == "slurm":
        return SlurmExecutor(folder=folder, **dict(slurm_resources or {}))
    raise ValueError(f"unknown executor backend {backend!r}: use 'local' or 'slurm'")
