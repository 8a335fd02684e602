"""The batched MD engine (torch-sim): same equations, files, guard and resume as the ASE
runner, many runs per model call.

Known answers: the ASE runner's own trajectory (same model, same start, same thermostat:
both integrate the same Nose-Hoover chain equations, so the first steps agree to
rounding), the thermostat's target temperature, the ASE runner's conserved-energy drift
and diffusion coefficient of a Lennard-Jones liquid (both engines on the same torch-sim
potential), the ASE calculator's forces on the fine-tuned head of a multihead model.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torch_sim")

from lidiff_helpers.core.errors import ParameterError  # noqa: E402
from lidiff_helpers.io.trajectory import open_trajectory  # noqa: E402
from lidiff_helpers.simulation.md import MDRun, read_status, read_thermo, run_md  # noqa: E402
from lidiff_helpers.simulation.md_batched import (  # noqa: E402
    batch_groups,
    batched_model,
    run_batched,
    torchsim_calculator,
)

# --------------------------------------------------------------------------- helpers

#: argon (sigma 3.405 A, epsilon 10.4 meV), cut at 2.5 sigma
_LJ = {"sigma": 3.405, "epsilon": 0.0104, "cutoff": 8.5}


def _lj_model():
    from torch_sim.models.lennard_jones import LennardJonesModel

    return LennardJonesModel(**_LJ, dtype=torch.float64, compute_stress=False)


def _liquid_argon():
    """108 Ar atoms at 1.23 g/cm^3 (reduced density 0.73, T* = 1.0 at 120 K: liquid), an
    fcc lattice rattled by 0.2 A that melts during equilibration."""
    from ase.build import bulk

    at = bulk("Ar", "fcc", a=6.0, cubic=True).repeat(3)
    at.rattle(0.2, seed=7)
    return at


def _lj_run(name: str, engine: str, seed: int, **kw) -> MDRun:
    base = dict(model_spec="lj-argon", model="lj-argon", start_structure="argon-fcc-108",
                temperature_K=120.0, seed=seed, timestep_fs=5.0, tdamp_fs=250.0,
                equilibration_ps=2.5, production_ps=10.0, save_every=10, dtype="float64",
                init_temperature_K=160.0, checkpoint_every_s=0.0, engine=engine,
                guard={"max_temperature_factor": 3.0})   # the rattled start heats up first
    base.update(kw)
    return MDRun(name=name, **base)


@pytest.fixture(scope="module")
def lj_runs(tmp_path_factory):
    """Four replicas of liquid argon with each engine (same seeds, same potential)."""
    torch.set_num_threads(1)
    d = tmp_path_factory.mktemp("lj")
    model = _lj_model()
    batched = [_lj_run(f"b{i}", "batched", seed=10 + i) for i in range(4)]
    ase = [_lj_run(f"a{i}", "ase", seed=10 + i) for i in range(4)]
    recs_b = _run_batched_from_atoms(batched, d, model)
    recs_a = [run_md(r, d, calculator=torchsim_calculator(model), atoms=_liquid_argon(),
                     progress=False) for r in ase]
    return d, batched, ase, recs_b, recs_a


def _run_batched_from_atoms(runs, d, model):
    """run_batched with the start structure written where prepare_run finds it."""
    import ase.io

    path = d / "argon-fcc-108.extxyz"
    if not path.exists():
        ase.io.write(path, _liquid_argon())
    runs = [MDRun.from_dict({**r.to_dict(), "start_structure": str(path)}) for r in runs]
    return run_batched(runs, d, model=model, progress=False)


def _D_cm2_s(d, names):
    from lidiff_helpers.analysis.diffusion import diffusion_coefficient

    return np.array([diffusion_coefficient(d / n / "trajectory", species="Ar",
                                           convention="tracer", remove_drift=False,
                                           n_blocks=2, fit_window_ps=(0.5, 2.5)).D_cm2_s
                     for n in names])


# --------------------------------------------------------------------------- tests

def test_batched_reproduces_the_ase_runner_step_by_step(tmp_path):
    """The embedded MACE model, 65 atoms, float64: a batch of two runs (1000 K and 600 K)
    gives the ASE runner's 1000 K trajectory and thermo log to rounding."""
    torch.set_num_threads(1)
    kw = dict(model_spec="embedded", model="embedded", start_structure="lif:2",
              production_ps=0.02, equilibration_ps=0.0, save_every=10, dtype="float64",
              checkpoint_every_s=0.0)
    run_md(MDRun(name="ase", temperature_K=1000.0, seed=3, **kw), tmp_path, progress=False)
    recs = run_batched([MDRun(name="b1000", temperature_K=1000.0, seed=3, engine="batched", **kw),
                        MDRun(name="b600", temperature_K=600.0, seed=4, engine="batched", **kw)],
                       tmp_path, progress=False)
    assert [r["status"] for r in recs] == ["done", "done"]
    ta, tb = open_trajectory(tmp_path / "ase" / "trajectory"), open_trajectory(
        tmp_path / "b1000" / "trajectory")
    assert ta.n_frames == tb.n_frames == 3
    for f in range(3):
        np.testing.assert_allclose(tb.atoms(f).positions, ta.atoms(f).positions, atol=1e-6)
    A, B = read_thermo(tmp_path / "ase"), read_thermo(tmp_path / "b1000")
    # thermo.csv writes T with 4 decimals (K) and energies with 8 (eV): allow one unit of
    # the last written digit of T for values that round on either side of a half
    for col, atol in (("temperature_K", 1.5e-4), ("potential_energy_eV", 1e-5),
                      ("conserved_energy_eV", 1e-5)):
        np.testing.assert_allclose(B[col], A[col], atol=atol, err_msg=col)
    # the 600 K run is another system of the same batch, not a copy
    C = read_thermo(tmp_path / "b600")
    assert abs(C["temperature_K"].iloc[0] - 600.0) < 200 and not np.allclose(
        C["potential_energy_eV"], A["potential_energy_eV"])
    st = read_status(tmp_path / "b1000")
    assert st["run"]["engine"] == "batched" and st["model_identity"]["sha256"]


def test_multihead_model_evaluates_the_fine_tuned_head():
    """torch-sim's MACE wrapper evaluates head 0 (the replay head); batched_model keeps the
    fine-tuned head, whose forces equal the ASE calculator's."""
    from ase.build import bulk

    from lidiff_helpers.simulation import models
    from lidiff_helpers.training.reference_models import exported

    path = exported("multihead-pt100")
    if not path.is_file():
        pytest.skip("committed multihead reference model missing")
    import torch_sim as ts

    at = bulk("LiF", "rocksalt", a=4.03, cubic=True).repeat(2)
    at.rattle(0.05, seed=1)
    calc = models.get_calculator(str(path), dtype="float64")
    assert len(calc.available_heads) == 2
    f_ase = calc.get_forces(at)
    model = batched_model(str(path), dtype="float64")
    st = ts.io.atoms_to_state([at], torch.device("cpu"), torch.float64)
    f_b = model(st)["forces"].numpy()
    np.testing.assert_allclose(f_b, f_ase, atol=1e-6)
    f_pt = models.get_calculator(str(path), dtype="float64", head="pt_head").get_forces(at)
    assert np.abs(f_pt - f_ase).max() > 1e-3        # the heads differ: the test can fail


def test_chgnet_is_refused_by_the_batched_engine():
    with pytest.raises(ParameterError, match="CHGNet"):
        batched_model("chgnet")


def test_batches_group_runs_by_model_and_timestep():
    mk = lambda n, spec, dt: MDRun(name=n, model_spec=spec, model=spec,  # noqa: E731
                                   start_structure="lif:2", temperature_K=900.0,
                                   timestep_fs=dt, engine="batched")
    runs = [mk("a", "embedded", 1.0), mk("b", "other", 1.0), mk("c", "embedded", 1.0),
            mk("d", "embedded", 2.0), mk("e", "embedded", 1.0)]
    assert [[r.name for r in g] for g in batch_groups(runs)] == [["a", "c", "e"], ["b"], ["d"]]
    assert [[r.name for r in g] for g in batch_groups(runs, 2)] == [["a", "c"], ["e"], ["b"],
                                                                   ["d"]]
    with pytest.raises(ParameterError, match="must share model_spec"):
        run_batched(runs[:2], "/nonexistent", progress=False)


def test_batched_nvt_holds_temperature_and_conserved_energy(lj_runs):
    """Liquid argon, 4 replicas per engine, 10 ps: every batched replica's mean
    production temperature within 5 % of 120 K; the conserved quantity drifts no more
    than with the ASE runner (factor 3 margin)."""
    d, batched, ase, recs_b, recs_a = lj_runs
    assert all(r["status"] == "done" for r in recs_b + recs_a)
    for r in recs_b:
        assert abs(r["mean_temperature_K"] - 120.0) < 0.05 * 120.0, r["name"]
    drift_b = max(r["max_abs_drift_eV_per_atom"] for r in recs_b)
    drift_a = max(r["max_abs_drift_eV_per_atom"] for r in recs_a)
    assert drift_b <= 3.0 * drift_a + 1e-6, (drift_b, drift_a)


def test_batched_diffusion_matches_the_ase_runner(lj_runs):
    """Tracer D of liquid argon from the batched replicas agrees with the ASE runner's
    within 3 combined standard errors (replica spread), and is liquid-like (unwrapped
    trajectories: a wrapped one would give a far smaller MSD slope)."""
    d, batched, ase, _, _ = lj_runs
    Db, Da = _D_cm2_s(d, [r.name for r in batched]), _D_cm2_s(d, [r.name for r in ase])
    se = np.hypot(Db.std(ddof=1) / 2.0, Da.std(ddof=1) / 2.0)
    assert abs(Db.mean() - Da.mean()) < 3.0 * se + 1e-12, (Db, Da)
    assert 1e-5 < Db.mean() < 1e-4, Db             # liquid Ar near 120 K: ~3e-5 cm^2/s


def test_batched_resume_gives_the_uninterrupted_trajectory(tmp_path):
    """A batch stopped after 0.5 ps and extended to 1 ps (production_ps is mutable) equals
    an uninterrupted 1 ps batch bit for bit: chain state, unwrapped positions and frames
    restored."""
    torch.set_num_threads(1)
    model = _lj_model()
    kw = dict(equilibration_ps=0.0, init_temperature_K=None, save_every=10)
    full = [_lj_run(f"full{i}", "batched", seed=i, production_ps=1.0, **kw) for i in range(2)]
    part = [_lj_run(f"part{i}", "batched", seed=i, production_ps=0.5, **kw) for i in range(2)]
    _run_batched_from_atoms(full, tmp_path, model)
    _run_batched_from_atoms(part, tmp_path, model)
    more = [MDRun.from_dict({**r.to_dict(), "production_ps": 1.0}) for r in part]
    recs = _run_batched_from_atoms(more, tmp_path, model)
    assert [r["n_frames"] for r in recs] == [full[0].n_frames] * 2
    for i in range(2):
        a = open_trajectory(tmp_path / f"full{i}" / "trajectory")
        b = open_trajectory(tmp_path / f"part{i}" / "trajectory")
        assert a.n_frames == b.n_frames
        for k in range(a.n_frames):  # bitwise: the continuation is exact, not close
            np.testing.assert_array_equal(b.atoms(k).positions, a.atoms(k).positions)
        np.testing.assert_array_equal(read_thermo(tmp_path / f"part{i}")["conserved_energy_eV"],
                                      read_thermo(tmp_path / f"full{i}")["conserved_energy_eV"])


def test_one_failing_run_leaves_the_batch_and_the_others_finish(tmp_path):
    """The guard of each run is its own: a run whose smallest allowed distance (3.5 A) is
    above the liquid's closest approaches (~3.2 A) fails as soon as two atoms come closer,
    with the ASE runner's failure record; the other run of the batch completes."""
    from lidiff_helpers.core.errors import MDGuardError

    model = _lj_model()
    kw = dict(equilibration_ps=0.0, production_ps=0.5)
    runs = [_lj_run("ok", "batched", seed=1, **kw),
            _lj_run("strict", "batched", seed=2, guard={"min_distance_A": 3.5,
                                                         "max_temperature_factor": 3.0}, **kw)]
    with pytest.raises(MDGuardError, match="strict.*min_distance"):
        _run_batched_from_atoms(runs, tmp_path, model)
    ok, bad = read_status(tmp_path / "ok"), read_status(tmp_path / "strict")
    assert ok["status"] == "done" and ok["n_frames"] == runs[0].n_frames
    assert bad["status"] == "failed" and bad["failure"]["check"] == "min_distance"
    assert (tmp_path / "strict" / "failure.extxyz").is_file()


def test_engine_choice_by_device():
    from lidiff_helpers.simulation.md_grid import choose_engine

    assert choose_engine("auto", "cuda") == "batched"
    assert choose_engine("auto", "cuda:1") == "batched"
    assert choose_engine("auto", "cpu") == "ase" and choose_engine("auto", None) == "ase"
    assert choose_engine("batched", "cpu") == "batched"
    with pytest.raises(ParameterError, match="md_engine"):
        choose_engine("lammps", "cpu")
    with pytest.raises(ParameterError, match="engine must be one of"):
        MDRun(name="x", model_spec="embedded", model="m", start_structure="lif:2",
              temperature_K=900.0, engine="torchsim")


def test_run_grid_sends_the_batched_runs_as_one_job(tmp_path):
    """run_grid: the two batched runs of one model go to the executor as one batch (one
    shared step time) and land in the manifest like ASE runs; the ASE run beside them is
    its own job."""
    from lidiff_helpers.simulation.md_grid import run_grid

    torch.set_num_threads(1)
    kw = dict(model_spec="embedded", model="embedded", start_structure="lif:2",
              production_ps=0.01, equilibration_ps=0.0, save_every=5, checkpoint_every_s=0.0)
    runs = [MDRun(name=f"b{t}", temperature_K=float(t), seed=t, engine="batched", **kw)
            for t in (800, 900)] + [MDRun(name="a900", temperature_K=900.0, seed=1, **kw)]
    manifest = run_grid(runs, tmp_path, progress=False)
    assert [e["status"] for e in manifest] == ["done"] * 3
    assert [e["n_frames"] for e in manifest] == [3, 3, 3]
    st = [read_status(tmp_path / "md" / n) for n in ("b800", "b900", "a900")]
    assert st[0]["batch"]["runs"] == st[1]["batch"]["runs"] == ["b800", "b900"]
    assert st[0]["batch"]["n_atoms_total"] == 130 and "batch" not in st[2]
    assert [s["run"]["engine"] for s in st] == ["batched", "batched", "ase"]


def test_a_run_started_by_ase_continues_with_the_batched_engine(tmp_path):
    """engine is bookkeeping (MUTABLE_FIELDS): an ASE run extended by the batched engine
    gives the uninterrupted ASE run (same chain variables, same equations)."""
    import ase.io

    model = _lj_model()
    path = tmp_path / "start.extxyz"
    ase.io.write(path, _liquid_argon())
    kw = dict(equilibration_ps=0.0, init_temperature_K=None, start_structure=str(path))
    calc = torchsim_calculator(model)
    run_md(_lj_run("full", "ase", seed=5, production_ps=1.0, **kw), tmp_path, calculator=calc,
           progress=False)
    run_md(_lj_run("mixed", "ase", seed=5, production_ps=0.5, **kw), tmp_path,
           calculator=calc, progress=False)
    rec = run_batched([_lj_run("mixed", "batched", seed=5, production_ps=1.0, **kw)],
                      tmp_path, model=model, progress=False)[0]
    assert rec["status"] == "done" and rec["batch"]["runs"] == ["mixed"]
    a = open_trajectory(tmp_path / "full" / "trajectory")
    b = open_trajectory(tmp_path / "mixed" / "trajectory")
    assert a.n_frames == b.n_frames == 21
    np.testing.assert_allclose(b.atoms(-1).positions, a.atoms(-1).positions, atol=1e-5)
    np.testing.assert_allclose(read_thermo(tmp_path / "mixed")["conserved_energy_eV"],
                               read_thermo(tmp_path / "full")["conserved_energy_eV"], atol=1e-5)


def test_bad_batches_stop_before_any_step(tmp_path):
    """A one-thermostat chain (torch-sim 0.3.0 needs two) and a model without an element of
    the structure are refused naming the run and the problem; no run folder is written
    for the second."""
    from types import SimpleNamespace

    with pytest.raises(ParameterError, match=r"\['short'\] have tchain < 2"):
        run_batched([_lj_run("short", "batched", seed=1, tchain=1)], tmp_path,
                    model=_lj_model(), progress=False)
    li_f_only = SimpleNamespace(z_table=SimpleNamespace(zs=[3, 9]))   # never called
    import ase.io

    ase.io.write(tmp_path / "ar.extxyz", _liquid_argon())
    run = _lj_run("argon", "batched", seed=1, start_structure=str(tmp_path / "ar.extxyz"))
    with pytest.raises(ParameterError, match=r"MD run 'argon'.*no parameters for \['Ar'\]"):
        run_batched([run], tmp_path / "md", model=li_f_only, progress=False)
    assert not (tmp_path / "md" / "argon" / "thermo.csv").exists()
