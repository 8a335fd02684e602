"""MD runner: thermostat, resume, guard, unwrapped coordinates, skip, grid and manifest.

Cheap calculators: ASE's EMT (small Cu/Al cells) where a few hundred steps suffice, and a
vectorised shifted-force Morse pair potential for Cu (Girifalco-Weizer parameters,
matscipy neighbour list; about 1 ms per step for 108 atoms) where thousands of steps are
needed. The tiny MACE model (tests/models/tiny-lif.model) checks the model path.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.emt import EMT

from lidiff_helpers.io.trajectory import open_trajectory
from lidiff_helpers.simulation import md, md_grid
from lidiff_helpers.workflows import md_diffusion

TINY = Path(__file__).parent / "models" / "tiny-lif.model"


class MorseSF(Calculator):
    """Shifted-force Morse pair potential (energy and force continuous at ``rc``), brute
    force over minimum-image pairs (orthorhombic cells with ``rc`` < half the box).

    ``nan_from_call`` returns NaN forces from that call on; ``interrupt_at_call`` raises
    KeyboardInterrupt at that call (a simulated kill).
    """

    implemented_properties = ["energy", "free_energy", "forces"]

    def __init__(self, D=0.3429, alpha=1.3588, r0=2.866, rc=5.0, nan_from_call=None,
                 interrupt_at_call=None):
        super().__init__()
        self.p = (D, alpha, r0, rc)
        self.calls = 0
        self.nan_from_call, self.interrupt_at_call = nan_from_call, interrupt_at_call

    def _v(self, r):
        D, a, r0, _ = self.p
        e = np.exp(-a * (r - r0))
        return D * (1 - e) ** 2 - D, 2 * D * a * e * (1 - e)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        self.calls += 1
        if self.interrupt_at_call and self.calls == self.interrupt_at_call:
            raise KeyboardInterrupt("simulated kill")
        rc = self.p[3]
        box = np.diag(self.atoms.cell.array)
        assert np.allclose(self.atoms.cell.array, np.diag(box)) and rc < box.min() / 2
        vec = self.atoms.positions[None, :, :] - self.atoms.positions[:, None, :]
        vec -= box * np.round(vec / box)               # minimum image, r_j - r_i
        d = np.sqrt((vec ** 2).sum(-1))
        mask = (d < rc) & (d > 0)
        v, dv = self._v(np.where(mask, d, rc))
        vc, dvc = self._v(np.array(rc))
        energy = 0.5 * np.sum(np.where(mask, v - vc - (d - rc) * dvc, 0.0))
        coef = np.where(mask, (dv - dvc) / np.where(mask, d, 1.0), 0.0)
        forces = (coef[:, :, None] * vec).sum(axis=1)
        if self.nan_from_call and self.calls >= self.nan_from_call:
            forces[:] = np.nan
        self.results = {"energy": energy, "free_energy": energy, "forces": forces}


def cu(n=3, a=3.615):
    return bulk("Cu", "fcc", a=a, cubic=True).repeat(n)


def cu_run(name="cu", **kw):
    base = dict(name=name, model_spec="morse", model="Morse-Cu", start_structure="cu-fcc",
                temperature_K=500.0, timestep_fs=5.0, tdamp_fs=100.0, save_every=10,
                production_ps=1.0, equilibration_ps=0.25, seed=7, checkpoint_every_s=300)
    base.update(kw)
    return md.MDRun(**base)


def test_morse_forces_are_minus_energy_gradient():
    at = cu(3)
    at.rattle(0.1, seed=3)
    at.calc = MorseSF()
    f = at.get_forces()
    h = 1e-5
    for a_idx, k in [(0, 0), (5, 2), (17, 1)]:
        p = at.positions.copy()
        p[a_idx, k] += h
        at.positions = p
        ep = at.get_potential_energy()
        p[a_idx, k] -= 2 * h
        at.positions = p
        em = at.get_potential_energy()
        p[a_idx, k] += h
        at.positions = p
        assert f[a_idx, k] == pytest.approx(-(ep - em) / (2 * h), abs=1e-6)


def test_nvt_holds_mean_temperature_and_canonical_fluctuations(tmp_path):
    """Nose-Hoover chain at 500 K, 108 Cu atoms, 1500 production steps of 5 fs (75
    damping times) after 100 steps of equilibration from the perfect lattice."""
    r = cu_run(production_ps=7.5, equilibration_ps=0.5)
    st = md.run_md(r, tmp_path, calculator=MorseSF(), atoms=cu(), progress=False)
    assert st["status"] == "done" and st["n_frames"] == r.n_frames == 151
    assert abs(st["mean_temperature_K"] - 500.0) / 500.0 < 0.05
    th = md.read_thermo(tmp_path / r.name)
    assert list(th.columns) == list(md.THERMO_COLUMNS)
    prod = th[th["phase"] == "production"]["temperature_K"]
    # canonical ensemble: relative std of the kinetic temperature = sqrt(2 / (3N))
    rel_std = prod.std() / prod.mean()
    assert 0.6 < rel_std / np.sqrt(2 / (3 * 108)) < 1.4
    assert st["max_abs_drift_eV_per_atom"] < 1e-3


def test_resume_after_kill_is_identical_to_uninterrupted_run(tmp_path):
    # 250 steps, 21 frames; checkpoints at the end of equilibration (step 50) and then at
    # every saved step, so the kill at step 156 resumes from step 150
    r = cu_run(production_ps=1.0, equilibration_ps=0.25, checkpoint_every_s=0)
    ref = md.run_md(r, tmp_path / "ref", calculator=MorseSF(), atoms=cu(), progress=False)
    with pytest.raises(KeyboardInterrupt):
        md.run_md(r, tmp_path / "cut", calculator=MorseSF(interrupt_at_call=157), atoms=cu(),
                  progress=False)
    assert md.read_status(tmp_path / "cut" / r.name)["status"] == "running"
    part = open_trajectory(tmp_path / "cut" / r.name / "trajectory")
    assert 0 < part.n_frames < r.n_frames
    res = md.run_md(r, tmp_path / "cut", calculator=MorseSF(), atoms=cu(), progress=False)
    assert res["status"] == ref["status"] == "done"
    a = open_trajectory(tmp_path / "ref" / r.name / "trajectory")
    b = open_trajectory(tmp_path / "cut" / r.name / "trajectory")
    assert a.n_frames == b.n_frames == r.n_frames
    np.testing.assert_array_equal(a.time_ps, b.time_ps)
    np.testing.assert_allclose(np.diff(b.time_ps), r.frame_interval_ps, rtol=1e-12)
    np.testing.assert_array_equal(np.asarray(a.positions_A), np.asarray(b.positions_A))
    assert ((tmp_path / "ref" / r.name / "thermo.csv").read_text()
            == (tmp_path / "cut" / r.name / "thermo.csv").read_text())


_KILL_SCRIPT = textwrap.dedent("""
    import sys
    from ase.build import bulk
    from ase.calculators.emt import EMT
    from lidiff_helpers import md
    run = md.MDRun.from_dict(__import__("json").loads(sys.argv[2]))
    md.run_md(run, sys.argv[1], calculator=EMT(),
              atoms=bulk("Al", "fcc", a=4.05, cubic=True).repeat(2), progress=False)
""")


@pytest.mark.slow
def test_sigkill_subprocess_then_resume_matches_uninterrupted(tmp_path):
    """A real kill -9 of a run in another process (slow: the subprocess imports ASE)."""
    r = md.MDRun(name="al", model_spec="emt", model="EMT", start_structure="al-fcc",
                 temperature_K=600.0, timestep_fs=4.0, save_every=5, production_ps=2.0,
                 equilibration_ps=0.0, seed=3, checkpoint_every_s=0)   # 500 steps
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", _KILL_SCRIPT, str(tmp_path / "cut"),
                             json.dumps(r.to_dict())], env=env, cwd=Path(md.__file__).parents[1])
    ckpt = tmp_path / "cut" / "al" / "checkpoint.npz"
    t0 = time.time()
    while time.time() - t0 < 60:
        if ckpt.exists() and np.load(ckpt)["step"] >= 100:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    killed_at = open_trajectory(tmp_path / "cut" / "al" / "trajectory").n_frames
    assert killed_at < r.n_frames
    al = bulk("Al", "fcc", a=4.05, cubic=True).repeat(2)
    md.run_md(r, tmp_path / "cut", calculator=EMT(), atoms=al, progress=False)
    md.run_md(r, tmp_path / "ref", calculator=EMT(), atoms=al, progress=False)
    a = open_trajectory(tmp_path / "ref" / "al" / "trajectory")
    b = open_trajectory(tmp_path / "cut" / "al" / "trajectory")
    assert a.n_frames == b.n_frames == r.n_frames == 101
    np.testing.assert_array_equal(a.time_ps, b.time_ps)
    np.testing.assert_array_equal(np.asarray(a.positions_A), np.asarray(b.positions_A))


def test_guard_nan_forces_fires_at_the_exact_step_and_keeps_good_frames(tmp_path):
    # call 1 evaluates step 0, call k + 1 step k: NaN from call 24 -> failure at step 23
    r = cu_run(equilibration_ps=0.0, production_ps=0.5)
    with pytest.raises(md.MDGuardError, match=r"guard 'non_finite' failed at step 23") as e:
        md.run_md(r, tmp_path, calculator=MorseSF(nan_from_call=24), atoms=cu(),
                  progress=False)
    assert r.name in str(e.value) and e.value.failure["step"] == 23
    st = md.read_status(tmp_path / r.name)
    assert st["status"] == "failed" and st["failure"]["check"] == "non_finite"
    tr = open_trajectory(tmp_path / r.name / "trajectory")
    np.testing.assert_allclose(tr.time_ps, [0.0, 0.05, 0.1])       # steps 0, 10, 20
    assert np.isfinite(np.asarray(tr.positions_A)).all()
    assert (tmp_path / r.name / "failure.extxyz").is_file()


def test_guard_min_distance_names_check_and_step(tmp_path):
    at = cu()
    at.positions[1] = at.positions[0] + [0.5, 0.0, 0.0]   # two atoms 0.5 A apart
    r = cu_run(equilibration_ps=0.0)
    with pytest.raises(md.MDGuardError, match=r"'min_distance' failed at step 0.*0\.500 A"):
        md.run_md(r, tmp_path, calculator=MorseSF(), atoms=at, progress=False)
    st = md.read_status(tmp_path / r.name)
    assert st["failure"]["check"] == "min_distance" and st["failure"]["value"] == \
        pytest.approx(0.5, abs=1e-6)


def test_guard_fires_on_exploding_timestep_and_marks_failed(tmp_path):
    """A 25 fs timestep at 3000 K blows up; the last saved frame is good and earlier."""
    r = cu_run(name="boom", timestep_fs=25.0, temperature_K=3000.0, save_every=1,
               equilibration_ps=0.0, production_ps=5.0)
    st = md.run_md(r, tmp_path, calculator=MorseSF(), atoms=cu(), progress=False,
                   raise_on_failure=False)
    assert st["status"] == "failed"
    f = st["failure"]
    assert f["check"] in ("temperature", "energy_drift", "min_distance", "non_finite")
    assert 0 < f["step"] < r.n_steps
    tr = open_trajectory(tmp_path / "boom" / "trajectory")
    assert tr.n_frames == f["step"]              # frames 0 .. step-1 are the good ones
    assert tr.time_ps[-1] < f["time_ps"]
    assert np.isfinite(np.asarray(tr.positions_A)).all()
    # starting it again does nothing
    again = md.run_md(r, tmp_path, calculator=MorseSF(interrupt_at_call=1), atoms=cu(),
                      progress=False)
    assert again["status"] == "failed" and again["failure"] == f


def test_unwrapped_positions_continuous_across_the_boundary(tmp_path):
    """EMT Al with a lattice plane just inside the upper x face: atoms cross it at once."""
    al = bulk("Al", "fcc", a=4.05, cubic=True).repeat(2)
    al.positions -= [0.02, 0.0, 0.0]      # plane x = 0 moves to x = -0.02 ...
    al.wrap()                              # ... i.e. x = L - 0.02 after wrapping
    L = al.cell[0, 0]
    r = md.MDRun(name="wrap", model_spec="emt", model="EMT", start_structure="al",
                 temperature_K=900.0, timestep_fs=2.0, save_every=1, production_ps=0.2,
                 seed=11, checkpoint_every_s=0)
    md.run_md(r, tmp_path, calculator=EMT(), atoms=al, progress=False)
    x = np.asarray(open_trajectory(tmp_path / "wrap" / "trajectory").positions_A)[:, :, 0]
    crossed = ((x >= L) | (x < 0)).any(axis=0)
    assert crossed.sum() >= 2                      # some atoms left the box ...
    assert np.abs(np.diff(x, axis=0)).max() < 0.5  # ... without any jump of ~L
    span = x.max(axis=0) - x.min(axis=0)
    assert span.max() < L / 2


def test_finished_run_is_skipped_and_can_be_extended(tmp_path):
    r = cu_run(production_ps=0.5)
    md.run_md(r, tmp_path, calculator=MorseSF(), atoms=cu(), progress=False)
    pos = tmp_path / r.name / "trajectory" / "positions.bin"
    mtime = pos.stat().st_mtime_ns
    st = md.run_md(r, tmp_path, calculator=MorseSF(interrupt_at_call=1), atoms=cu(),
                   progress=False)   # would raise if it computed anything
    assert st["status"] == "done" and pos.stat().st_mtime_ns == mtime
    longer = cu_run(production_ps=1.0)
    md.run_md(longer, tmp_path, calculator=MorseSF(), atoms=cu(), progress=False)
    md.run_md(longer, tmp_path / "ref", calculator=MorseSF(), atoms=cu(), progress=False)
    a = open_trajectory(tmp_path / r.name / "trajectory")
    b = open_trajectory(tmp_path / "ref" / r.name / "trajectory")
    assert a.n_frames == longer.n_frames
    np.testing.assert_array_equal(np.asarray(a.positions_A), np.asarray(b.positions_A))


def test_other_settings_under_the_same_name_are_refused(tmp_path):
    md.run_md(cu_run(production_ps=0.25), tmp_path, calculator=MorseSF(), atoms=cu(),
              progress=False)
    with pytest.raises(ValueError, match=r"temperature_K: 500.0 -> 600.0"):
        md.run_md(cu_run(production_ps=0.25, temperature_K=600.0), tmp_path,
                  calculator=MorseSF(), atoms=cu(), progress=False)


def test_initial_velocities_at_the_target_unless_told_otherwise(tmp_path):
    r = md.MDRun(name="x", model_spec="m", model="m", start_structure="lif:2",
                 temperature_K=600.0, production_ps=0.1, save_every=10,
                 init_temperature_K=1200.0)
    assert r.initial_temperature_K == 1200.0
    assert cu_run().initial_temperature_K == 500.0
    assert cu_run(init_temperature_K=50.0).initial_temperature_K == 50.0
    at, _, how = md._initial_state(r, None)
    assert how.startswith("maxwell-boltzmann 1200 K")
    assert at.get_temperature() == pytest.approx(1200.0, rel=0.25)


def test_run_definition_validation():
    with pytest.raises(ValueError, match="not a whole number of saved intervals"):
        cu_run(production_ps=0.123)
    with pytest.raises(ValueError, match="purpose"):
        cu_run(purpose="fun")
    r = cu_run()
    assert md.MDRun.from_dict(json.loads(json.dumps(r.to_dict()))) == r
    assert r.n_frames == 21 and r.frame_interval_ps == pytest.approx(0.05)


MODELS = [{"name": "embedded", "spec": "embedded", "sha256": "a" * 64, "foundation": True},
          {"name": "ft-naive", "spec": "/x/ft.model", "sha256": "b" * 64}]


def test_build_grid_purposes_seeds_and_study_starts():
    grid = md_grid.build_grid(
        MODELS, arrhenius_models=["foundation"], arrhenius_temperatures_K=[400, 450, 500],
        arrhenius_replicas=2, arrhenius_production_ps=9000, comparison_temperatures_K=[400, 450],
        comparison_replicas=2, comparison_production_ps=3000, start_structure="study",
        equilibration_ps=100, foundation_equilibration_ps=300, seed=1)
    by = {(r.model, r.temperature_K, r.replica): r for r in grid}
    assert len(grid) == 3 * 2 + 2 * 2
    assert {r.purpose for r in grid if r.model == "embedded"} == {"arrhenius"}
    assert {r.purpose for r in grid if r.model == "ft-naive"} == {"comparison"}
    assert by[("embedded", 400.0, 1)].start_structure == "data:400K_1"
    assert by[("embedded", 400.0, 1)].velocities == "file"
    assert by[("embedded", 500.0, 0)].start_structure == "data:450K_0"   # nearest published
    assert by[("embedded", 500.0, 0)].velocities == "maxwell-boltzmann"
    assert by[("embedded", 450.0, 0)].equilibration_ps == 300
    assert by[("ft-naive", 450.0, 0)].equilibration_ps == 100
    # paired replicas: same seed for every model, different across replicas/temperatures
    assert by[("embedded", 450.0, 1)].seed == by[("ft-naive", 450.0, 1)].seed
    assert len({r.seed for r in grid if r.model == "embedded"}) == 6
    assert len({r.name for r in grid}) == len(grid)
    with pytest.raises(ValueError, match="not among the models"):
        md_grid.build_grid(MODELS, arrhenius_models=["nope"], arrhenius_temperatures_K=[400],
                      arrhenius_replicas=1, arrhenius_production_ps=1,
                      comparison_temperatures_K=[], comparison_replicas=1,
                      comparison_production_ps=1, start_structure="lif:3", equilibration_ps=0,
                      foundation_equilibration_ps=0, seed=1)


def test_manifest_entries_read_by_notebook_05(tmp_path):
    r_ok = cu_run(name="ok", production_ps=0.25, purpose="comparison")
    r_bad = cu_run(name="bad", production_ps=0.25)
    r_new = cu_run(name="never", production_ps=0.25)
    md.run_md(r_ok, tmp_path / "md", calculator=MorseSF(), atoms=cu(), progress=False)
    md.run_md(r_bad, tmp_path / "md", calculator=MorseSF(nan_from_call=30), atoms=cu(),
              progress=False, raise_on_failure=False)
    entries = md_grid.write_manifest(tmp_path, [r_ok, r_bad, r_new])
    on_disk = json.loads((tmp_path / "md" / "manifest.json").read_text())
    assert on_disk == json.loads(json.dumps(entries, default=str))
    need = {"model", "model_spec", "model_sha256", "temperature_K", "replica", "seed", "purpose",
            "trajectory", "thermo", "status", "failure", "n_frames", "timestep_ps",
            "start_structure", "ms_per_step", "ps_per_day", "min_distance_A", "provenance"}
    assert all(need <= set(e) for e in entries)
    ok, bad, new = entries
    assert (ok["status"], bad["status"], new["status"]) == ("done", "failed", "pending")
    assert bad["failure"]["check"] == "non_finite" and bad["failure"]["step"] == 29
    assert ok["n_frames"] == 6 and ok["frame_interval_ps"] == pytest.approx(0.05)
    assert ok["timestep_ps"] == ok["frame_interval_ps"]         # the older name, kept
    assert ok["ps_per_day"] > 0 and 2.0 < ok["min_distance_A"] < 2.6
    assert open_trajectory(tmp_path / ok["trajectory"]).n_frames == 6
    assert ok["provenance"]["packages"]["ase"]
    from lidiff_helpers.analysis import diffusion

    done = diffusion.read_manifest(tmp_path / "md" / "manifest.json")
    assert [d["model"] for d in done] == ["Morse-Cu"] and Path(done[0]["trajectory"]).is_dir()
    st = md_diffusion.stability_table(entries)
    row = st.iloc[0]
    assert (row["runs"], row["done"], row["failed"], row["failed_checks"]) == (3, 1, 1,
                                                                             "non_finite")


def test_tiny_mace_model_through_the_local_executor(tmp_path):
    """Model loading by spec, float32, the executor entry point and the model hash check."""
    from lidiff_helpers.core import executor
    from lidiff_helpers.simulation import models

    sha = models.model_identity(str(TINY))["sha256"]
    grid = md_grid.build_grid(
        [{"name": "tiny", "spec": str(TINY), "sha256": sha, "foundation": True}],
        arrhenius_models=["foundation"], arrhenius_temperatures_K=[900.0], arrhenius_replicas=1,
        arrhenius_production_ps=0.01, comparison_temperatures_K=[], comparison_replicas=1,
        comparison_production_ps=0.01, start_structure="lif:2", equilibration_ps=0.0,
        foundation_equilibration_ps=0.0, seed=5, save_every=5, checkpoint_every_s=0)
    entries = md_grid.run_grid(grid, tmp_path, executor.get_executor("local"), n_threads=1,
                          progress=False)
    (e,) = entries
    assert e["status"] == "done" and e["n_frames"] == 3 and e["n_atoms"] == 65
    assert e["model_sha256"] == sha and e["provenance"]["model"]["name"] == "tiny-lif"
    bad = md.MDRun(**{**grid[0].to_dict(), "name": "wrong-hash", "model_sha256": "0" * 64})
    with pytest.raises(ValueError, match="model file changed"):
        md.run_md(bad, tmp_path / "md", progress=False)


def test_mace_energy_invariant_under_lattice_shifts_of_unwrapped_atoms():
    from lidiff_helpers.simulation import models
    from lidiff_helpers.simulation.structures import lif_supercell

    calc = models.get_calculator(str(TINY), dtype="float64", verbose=False)
    a = lif_supercell(2)
    a.rattle(0.05, seed=1)
    a.calc = calc
    e0, f0 = a.get_potential_energy(), a.get_forces()
    b = a.copy()
    b.positions[3] += 2 * a.cell[0] - a.cell[1]
    b.positions[-1] -= 3 * a.cell[2]
    b.calc = calc
    assert b.get_potential_energy() == pytest.approx(e0, abs=1e-8)
    np.testing.assert_allclose(b.get_forces(), f0, atol=1e-8)


def test_a_run_owned_by_a_live_process_is_not_started_twice(tmp_path):
    r = cu_run(production_ps=0.25)
    with pytest.raises(KeyboardInterrupt):
        md.run_md(r, tmp_path, calculator=MorseSF(interrupt_at_call=20), atoms=cu(),
                  progress=False)
    status_path = tmp_path / r.name / "status.json"
    st = json.loads(status_path.read_text())
    st["owner"]["pid"] = os.getppid()                  # a live process on this host
    status_path.write_text(json.dumps(st))
    with pytest.raises(RuntimeError, match=rf"already running: process {os.getppid()}"):
        md.run_md(r, tmp_path, calculator=MorseSF(), atoms=cu(), progress=False)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    st["owner"]["pid"] = dead.pid                      # a finished process: take over
    status_path.write_text(json.dumps(st))
    assert md.run_md(r, tmp_path, calculator=MorseSF(), atoms=cu(),
                     progress=False)["status"] == "done"


def test_collect_models_foundation_extra_and_registered(tmp_path, capsys):
    from lidiff_helpers.io import model_registry as registry

    ft = tmp_path / "ft-naive.model"
    ft.write_bytes(TINY.read_bytes() + b"\0")          # other weights (other SHA256)
    registry.register_model(tmp_path, "ft-naive-110", ft, "02_finetune_sweeps", {"n": 110})
    registry.register_model(tmp_path, "ft-al", ft, "03_active_learning")  # same weights
    got = md_grid.collect_models(tmp_path, str(TINY), [], include_registered=True,
                                 max_extra_models=1)
    assert [m["name"] for m in got] == ["tiny-lif", "ft-naive-110"]
    assert got[0]["foundation"] and not got[1]["foundation"]
    assert got[1]["spec"] == str(ft.resolve()) and got[1]["source"].endswith("02_finetune_sweeps")
    assert "ft-al (registered by 03_active_learning): same weights" in capsys.readouterr().out
    assert len(md_grid.collect_models(tmp_path, str(TINY), [], include_registered=False)) == 1
    assert len(md_grid.collect_models(tmp_path, str(TINY), [], True, None)) == 2
    registry.register_model(tmp_path, "ft-other", TINY, "03_active_learning")
    md_grid.collect_models(tmp_path, str(TINY), [str(ft)], True, max_extra_models=0)
    assert "not comparing ft-naive" in capsys.readouterr().out


def test_grid_run_names_follow_the_definition():
    """A profile edit (here: equilibration) gives new run folders, not a refusal of the old
    ones; a longer production keeps the name (it extends the finished run)."""
    kw = dict(arrhenius_models=["foundation"], arrhenius_temperatures_K=[800],
              arrhenius_replicas=1, arrhenius_production_ps=1.0, comparison_temperatures_K=[],
              comparison_replicas=1, comparison_production_ps=1.0, start_structure="lif:2",
              equilibration_ps=0.1, foundation_equilibration_ps=0.1, seed=1)
    a = md_grid.build_grid(MODELS, **kw)[0]
    assert a.name.startswith("embedded_800K_r0_arrhenius-") and len(a.name.split("-")[-1]) == 8
    assert md_grid.build_grid(MODELS, **kw)[0].name == a.name    # stable
    longer_eq = {**kw, "foundation_equilibration_ps": 0.4}
    assert md_grid.build_grid(MODELS, **longer_eq)[0].name != a.name
    assert md_grid.build_grid(MODELS, **{**kw, "arrhenius_production_ps": 2.0})[0].name == a.name


def test_a_run_killed_with_sigkill_and_resumed_equals_the_uninterrupted_run_bitwise(tmp_path):
    """The embedded model, 65 atoms at 900 K, a checkpoint at every saved frame: one run
    uninterrupted, one killed (SIGKILL, in a subprocess) after a few frames and started
    again; every frame of the resumed run equals the uninterrupted run's bit for bit."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from lidiff_helpers.io.trajectory import open_trajectory

    code = ("import sys; from pathlib import Path; from lidiff_helpers.simulation import md; "
            "md.run_md(md.MDRun(name='r', model_spec='embedded', model='embedded', "
            "start_structure='lif:2', temperature_K=900.0, seed=3, production_ps=0.15, "
            "save_every=10, checkpoint_every_s=0.0), Path(sys.argv[1]), progress=False)")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "a")], check=True, env=env,
                   capture_output=True, timeout=900)
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "b")], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    thermo = tmp_path / "b" / "r" / "thermo.csv"
    t0 = time.time()
    while time.time() - t0 < 600:
        if thermo.is_file() and len(thermo.read_text().splitlines()) >= 6:
            break
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    n_killed = len(thermo.read_text().splitlines()) - 1
    assert 0 < n_killed < 16, "the run was killed before it finished"
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "b")], check=True, env=env,
                   capture_output=True, timeout=900)
    a = np.asarray(open_trajectory(tmp_path / "a" / "r" / "trajectory").positions_A)
    b = np.asarray(open_trajectory(tmp_path / "b" / "r" / "trajectory").positions_A)
    assert a.shape == b.shape == (16, 65, 3)
    np.testing.assert_array_equal(a, b)


def test_resume_refuses_a_thermo_log_shorter_than_its_checkpoint(tmp_path):
    """A thermo log cut or replaced since the checkpoint (e.g. `git stash` in a running
    folder) would be padded with zero bytes by the truncation to the checkpoint's length:
    the resume refuses instead, naming the file."""
    from lidiff_helpers.core.errors import CheckpointError

    r = cu_run(production_ps=1.0, equilibration_ps=0.25, checkpoint_every_s=0)
    with pytest.raises(KeyboardInterrupt):
        md.run_md(r, tmp_path, calculator=MorseSF(interrupt_at_call=157), atoms=cu(),
                  progress=False)
    thermo = tmp_path / r.name / "thermo.csv"
    lines = thermo.read_text().splitlines(keepends=True)
    thermo.write_text("".join(lines[: len(lines) // 2]))
    with pytest.raises(CheckpointError, match=r"thermo\.csv: \d+ bytes but the checkpoint was "
                       r"written after \d+"):
        md.run_md(r, tmp_path, calculator=MorseSF(), atoms=cu(), progress=False)
