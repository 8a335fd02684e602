"""The ``slurm`` executor against a real one-node Slurm cluster started on this machine.

The module fixture :func:`slurm_cluster` starts munged, slurmctld and slurmd (Debian's
``slurm-wlm`` and ``munge``) with a throwaway configuration (``tests/slurm/slurm.conf.in``)
in a temporary folder, waits until the node is idle, and stops them at the end. The tests
then run notebook 04's ci MD grid and one ci fine-tuning arm through
``executor_from_settings("slurm", ...)`` (submitit underneath) and compare them with the
same runs through the local executor: same seeds, same frames.

Without Slurm (``slurmctld`` not installed) or without root the tests skip, except in CI
(``LIDIFF_REQUIRE_SLURM=1``, set by ``.ci/run``), where they fail. A cluster that is
installed but does not start fails the tests, with the daemons' logs.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import signal
import socket
import string
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from lidiff_helpers.core import paths

TINY = paths.ROOT / "tests" / "models" / "tiny-lif.model"
TEMPLATE = Path(__file__).parent / "slurm" / "slurm.conf.in"
DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sinfo", "sbatch", "squeue", "scancel", "srun")
#: small requests that fit the one node (submitit's generic names)
RESOURCES = {"timeout_min": 10, "cpus_per_task": 1, "mem_gb": 1}
#: longest a map over the cluster may take before the test gives up, s
MAP_DEADLINE_S = 300


def _unavailable(reason: str):
    if os.environ.get("LIDIFF_REQUIRE_SLURM") == "1":
        pytest.fail(f"LIDIFF_REQUIRE_SLURM=1 but {reason} (.ci/run installs slurm-wlm and "
                    "munge with apt-get; slurmd needs root)")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _node_hardware() -> tuple[str, int]:
    """``CPUs=.. Boards=.. SocketsPerBoard=.. CoresPerSocket=.. ThreadsPerCore=..`` as slurmd
    detects them (``slurmd -C``), and the memory it sees, MB."""
    line = subprocess.run(["slurmd", "-C"], capture_output=True, text=True,
                          check=True).stdout.splitlines()[0]
    fields = dict(f.split("=", 1) for f in line.split())
    keys = ("CPUs", "Boards", "SocketsPerBoard", "CoresPerSocket", "ThreadsPerCore")
    return " ".join(f"{k}={fields[k]}" for k in keys if k in fields), int(fields["RealMemory"])


class Cluster(SimpleNamespace):
    """root (folder), conf (slurm.conf), procs (name -> Popen), env (for clients)."""

    def logs(self) -> str:
        parts = []
        for f in sorted((self.root / "log").glob("*")):
            text = f.read_text(errors="replace").splitlines()
            parts.append(f"----- {f.name} (last 40 lines)\n" + "\n".join(text[-40:]))
        for name, p in self.procs.items():
            parts.append(f"----- {name}: pid {p.pid}, exit code {p.poll()}")
        if self.alive("slurmctld"):
            parts.append("----- sinfo -N -l\n" + self.run("sinfo", "-N", "-l", timeout_s=5))
        return "\n".join(parts)

    def run(self, *cmd: str, timeout_s: float = 30) -> str:
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, env=self.env, check=False,
                               timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return f"{cmd[0]}: no answer within {timeout_s} s"
        return (r.stdout + r.stderr).strip()

    def alive(self, name: str) -> bool:
        return name in self.procs and self.procs[name].poll() is None

    def node_state(self) -> str:
        return self.run("sinfo", "-h", "-n", self.node, "-o", "%T", timeout_s=5)

    def stop(self) -> None:
        """Cancel the jobs, wait until they are gone (a job step still finishing when
        slurmd goes would leave its slurmstepd behind), then stop the daemons."""
        if self.alive("slurmctld"):
            self.run("scancel", "--user", pwd.getpwuid(os.geteuid()).pw_name, timeout_s=10)
            deadline = time.time() + 30
            while self.run("squeue", "-h", "-o", "%i", timeout_s=5) and time.time() < deadline:
                time.sleep(0.5)
        for name in reversed(list(self.procs)):
            p = self.procs[name]
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(10)
        for pid in self._stepds():  # ignore SIGTERM
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def _stepds(self) -> list[int]:
        """The slurmstepd processes of this cluster (their SLURM_CONF is ours)."""
        mine = f"SLURM_CONF={self.conf}".encode()
        pids = []
        for proc in Path("/proc").glob("[0-9]*"):
            with contextlib.suppress(OSError):
                if ((proc / "comm").read_text().strip() == "slurmstepd"
                        and mine in (proc / "environ").read_bytes().split(b"\0")):
                    pids.append(int(proc.name))
        return pids


def _start(cluster: Cluster) -> None:
    """Write munge key and slurm.conf under ``cluster.root``, start the three daemons."""
    root = cluster.root
    for d in ("munge", "state", "spool", "log"):
        (root / d).mkdir()
    # munged wants its socket folder (and every folder above) searchable by all
    os.chmod(root, 0o755)
    os.chmod(root / "munge", 0o755)
    key = root / "munge" / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)
    sock = root / "munge" / "munge.socket"
    host = socket.gethostname().split(".")[0]
    hardware, mem_mb = _node_hardware()
    conf = cluster.conf
    conf.write_text(string.Template(TEMPLATE.read_text()).substitute(
        host=host, node=host, root=root, munge_socket=sock, ctld_port=_free_port(),
        slurmd_port=_free_port(), user=pwd.getpwuid(os.geteuid()).pw_name,
        hardware=hardware, real_memory_mb=max(mem_mb * 3 // 4, 1024)))
    env = {**os.environ, "SLURM_CONF": str(conf)}
    cmds = {
        "munged": ["munged", "--foreground", f"--socket={sock}", f"--key-file={key}",
                   f"--log-file={root / 'log' / 'munged.log'}",
                   f"--pid-file={root / 'munge' / 'munged.pid'}",
                   f"--seed-file={root / 'munge' / 'munged.seed'}"],
        "slurmctld": ["slurmctld", "-D", "-f", str(conf)],
        "slurmd": ["slurmd", "-D", "-f", str(conf), "-N", host],
    }
    cluster.env, cluster.node = env, host
    for name, cmd in cmds.items():
        out = open(root / "log" / f"{name}.stdout", "w")  # noqa: SIM115 - kept by the daemon
        cluster.procs[name] = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                               env=env, start_new_session=True)
        if name == "munged":
            _wait(lambda: sock.exists(), 10, cluster, "munged did not create its socket")


def _wait(ready, timeout_s: float, cluster: Cluster, what: str) -> None:
    deadline = time.time() + timeout_s
    while True:
        dead = [n for n, p in cluster.procs.items() if p.poll() is not None]
        if not dead and ready():
            return
        if dead or time.time() > deadline:
            cluster.stop()
            pytest.fail(f"the test Slurm cluster did not start: {what}"
                        f"{' (exited: ' + ', '.join(dead) + ')' if dead else ''}\n"
                        f"{cluster.logs()}")
        time.sleep(0.5)


@pytest.fixture(scope="module")
def slurm_cluster():
    """A one-node Slurm cluster on this machine; ``SLURM_CONF`` points at it meanwhile."""
    missing = [c for c in DAEMONS + CLIENTS if shutil.which(c) is None]
    if missing:
        _unavailable(f"Slurm/munge commands not installed: {missing}")
    if os.geteuid() != 0:
        _unavailable("slurmd must run as root to start jobs")
    root = Path(tempfile.mkdtemp(prefix="lidiff-slurm-"))
    cluster = Cluster(root=root, conf=root / "slurm.conf", procs={}, env={})
    try:
        _start(cluster)
        _wait(lambda: cluster.node_state() == "idle", 60, cluster,
              "the node never became idle in sinfo")
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("SLURM_CONF", str(cluster.conf))
            # jobs run sys.executable with the submitting process's environment
            # (sbatch --export=ALL): make them import this checkout
            mp.setenv("PYTHONPATH", os.pathsep.join(
                [str(paths.ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))
            mp.setenv("OMP_NUM_THREADS", "1")
            yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def _deadline(cluster: Cluster, seconds: int = MAP_DEADLINE_S):
    """Fail (with squeue and the daemons' logs) instead of waiting forever: without
    accounting, submitit cannot tell a job killed by Slurm from a running one."""

    def fail(*_):
        raise TimeoutError(f"Slurm jobs not finished after {seconds} s\n"
                           f"{cluster.run('squeue')}\n{cluster.logs()}")

    old = signal.signal(signal.SIGALRM, fail)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _slurm_executor(folder: Path):
    from lidiff_helpers.core.executor import executor_from_settings

    return executor_from_settings("slurm", slurm_resources=RESOURCES, folder=folder)


def _job_environment() -> dict:
    import lidiff_helpers

    return {"python": sys.executable, "package": lidiff_helpers.__file__,
            "job_id": os.environ.get("SLURM_JOB_ID"), "conf": os.environ.get("SLURM_CONF")}


def test_jobs_run_under_slurm_with_this_python_and_checkout(slurm_cluster, tmp_path):
    import cloudpickle

    import lidiff_helpers

    # a test-module function is not importable inside the job: send it by value
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    try:
        with _deadline(slurm_cluster):
            (got,) = _slurm_executor(tmp_path / "slurm").map(_job_environment, [{}])
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    assert isinstance(got, dict), got
    assert got["python"] == sys.executable and got["package"] == lidiff_helpers.__file__
    assert got["job_id"] and got["conf"] == str(slurm_cluster.conf)
    assert list((tmp_path / "slurm").glob("*/*_0_log.out")), "no submitit job log"


def _ci_md_grid(monkeypatch):
    """Notebook 04's ci grid: the foundation model (``auto``: embedded offline) plus the
    tiny model standing in for the model notebook 02 registers in a ci run."""
    from lidiff_helpers.runner import profiles
    from lidiff_helpers.simulation.model_set import models_to_compare
    from lidiff_helpers.workflows import md_diffusion

    monkeypatch.setenv("LIDIFF_OFFLINE", "1")
    P = SimpleNamespace(**profiles.resolve("04_md_diffusion", "ci"))
    models = models_to_compare(P.foundation_model, [str(TINY)], registered=[],
                               max_extra_models=P.max_extra_models)
    return md_diffusion.grid([m.as_dict() for m in models], P)


def test_ci_md_grid_on_slurm_equals_local(slurm_cluster, tmp_path, monkeypatch):
    from lidiff_helpers.core.executor import get_executor
    from lidiff_helpers.io.trajectory import open_trajectory
    from lidiff_helpers.simulation import md_grid

    runs = _ci_md_grid(monkeypatch)
    assert len(runs) == 2
    local = md_grid.run_grid(runs, tmp_path / "local", get_executor("local"), n_threads=1,
                             progress=False)
    with _deadline(slurm_cluster):
        slurm = md_grid.run_grid(runs, tmp_path / "slurm", _slurm_executor(tmp_path / "jobs"),
                                 n_threads=1, progress=False)
    assert len(list((tmp_path / "jobs").glob("*/*_result.pkl"))) == len(runs)
    for a, b in zip(local, slurm):
        assert a["name"] == b["name"]
        assert (a["status"], a["n_frames"]) == (b["status"], b["n_frames"]) == ("done", 5)
        ta = open_trajectory(tmp_path / "local" / a["trajectory"])
        tb = open_trajectory(tmp_path / "slurm" / b["trajectory"])
        np.testing.assert_allclose(tb.positions_A, ta.positions_A, rtol=0, atol=1e-5)
        np.testing.assert_array_equal(tb.time_ps, ta.time_ps)


def _predict(model: Path, frame) -> tuple[float, np.ndarray]:
    from lidiff_helpers.simulation.models import get_calculator

    at = frame.copy()
    at.calc = get_calculator(str(model), dtype="float64", verbose=False)
    return at.get_potential_energy(), at.get_forces()


def test_ci_finetune_arm_on_slurm_equals_local(slurm_cluster, tmp_path, study_data_dir):
    from lidiff_helpers.io import data
    from lidiff_helpers.runner import profiles
    from lidiff_helpers.training import finetune, sweeps

    P = SimpleNamespace(**profiles.resolve("02_finetune_sweeps", "ci"))
    (cfg,) = [c for c in sweeps.plan_from_params(P, TINY) if c.strategy == "naive"]
    local = finetune.run_finetune(cfg, tmp_path / "local", threads=1)
    with _deadline(slurm_cluster):
        (slurm,) = _slurm_executor(tmp_path / "jobs").map(
            finetune.run_finetune, [{"cfg": cfg, "root": tmp_path / "slurm", "threads": 1}])
    assert isinstance(slurm, finetune.FinetuneResult), slurm
    assert (local.status, slurm.status) == ("trained", "trained"), (local.message,
                                                                    slurm.message)
    assert slurm.workdir == tmp_path / "slurm" / cfg.folder
    man_a, man_b = (json.loads((r.workdir / "data.json").read_text()) for r in (local, slurm))
    for key in ("train_hashes", "valid_hashes", "e0s_fit_eV"):
        assert man_a[key] == man_b[key], key
    frame = data.test_set("interstitial")[0]
    e_a, f_a = _predict(local.model, frame)
    e_b, f_b = _predict(slurm.model, frame)
    assert np.isfinite(f_b).all() and f_b.shape == (len(frame), 3)
    assert e_b == pytest.approx(e_a, abs=1e-6 * len(frame))
    np.testing.assert_allclose(f_b, f_a, rtol=0, atol=1e-5)
