"""Executor: local backend run for real; Slurm job description checked without a cluster."""

from __future__ import annotations

import sys

import pytest

from lidiff_helpers.core.executor import (
    JobFailure,
    LocalExecutor,
    SlurmExecutor,
    executor_from_settings,
    get_executor,
    sbatch_text,
    slurm_parameters,
)
from lidiff_helpers.simulation.md_grid import replica_seed

JOBS = [dict(seed=1, temperature_K=400.0, replica=0), dict(seed=1, temperature_K=450.0,
                                                           replica=1),
        dict(seed="not-a-seed", temperature_K=400.0, replica=0)]
EXPECTED = [replica_seed(**JOBS[0]), replica_seed(**JOBS[1])]


def _check(results):
    assert results[:2] == EXPECTED
    bad = results[2]
    assert isinstance(bad, JobFailure) and bad.error == "ValueError"
    assert "not-a-seed" in bad.message and bad.kwargs == JOBS[2]
    assert "replica_seed" in bad.traceback


def test_local_sequential():
    _check(get_executor("local").map(replica_seed, JOBS))


def test_local_process_pool():
    ex = get_executor("local", max_workers=2)
    assert isinstance(ex, LocalExecutor) and ex.max_workers == 2
    _check(ex.map(replica_seed, JOBS))


def test_submitit_machinery_in_process(tmp_path):
    """The Slurm backend's submit/batch/result path, with submitit's in-process cluster."""
    ex = SlurmExecutor(folder=tmp_path, cluster="debug", timeout_min=5)
    _check(ex.map(replica_seed, JOBS))


def test_slurm_job_script_resources_and_command(tmp_path):
    ex = get_executor("slurm", folder=tmp_path / "slurm", slurm_partition="boost_usr_prod",
                      timeout_min=1440, gpus_per_node=1, cpus_per_task=8, mem_gb=32,
                      slurm_account="proj123", setup=["module load cuda/12.1",
                                                      "export OMP_NUM_THREADS=8"])
    text = ex.job_script(n_jobs=40)
    lines = text.splitlines()
    for flag in ("--partition=boost_usr_prod", "--time=1440", "--gpus-per-node=1",
                 "--cpus-per-task=8", "--mem=32GB", "--account=proj123", "--array=0-39%40",
                 "--nodes=1", "--signal=USR2@90"):
        assert f"#SBATCH {flag}" in lines, flag
    assert lines.index("module load cuda/12.1") < lines.index("export SUBMITIT_EXECUTOR=slurm")
    cmd = lines[-1] if lines[-1] else lines[-2]
    assert cmd.startswith("srun --unbuffered")
    assert f"{sys.executable} -u -m submitit.core._submit {tmp_path / 'slurm' / '%j'}" in cmd
    assert f"--output={tmp_path / 'slurm'}/%A_%a/%A_%a_0_log.out" in text
    single = ex.job_script(n_jobs=1)
    assert "--array" not in single and "--output=" in single


def test_slurm_defaults_and_unknown_resource(tmp_path):
    text = SlurmExecutor(folder=tmp_path).job_script()
    assert "#SBATCH --time=60" in text and "#SBATCH --cpus-per-task=4" in text
    with pytest.raises(ValueError, match=r"unknown Slurm resource\(s\) \['gpus'\]"):
        SlurmExecutor(folder=tmp_path, gpus=2)
    assert slurm_parameters({"mem_gb": 1.5, "slurm_qos": "normal", "name": "x"}) == {
        "mem": "1536MB", "qos": "normal", "job_name": "x"}


def test_sbatch_for_a_shell_command(tmp_path):
    text = sbatch_text("bash run_segments.sh", tmp_path, {"timeout_min": 30, "name": "lmp"})
    assert "#SBATCH --job-name=lmp" in text and text.rstrip().endswith("bash run_segments.sh")


def test_executor_from_settings(tmp_path):
    assert executor_from_settings("local", max_workers=2).max_workers == 2
    ex = executor_from_settings("slurm", slurm_resources={"timeout_min": 10}, folder=tmp_path)
    assert ex.backend == "slurm" and ex.resources["timeout_min"] == 10
    with pytest.raises(ValueError, match="unknown executor backend 'pbs'"):
        executor_from_settings("pbs")
