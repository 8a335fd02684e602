"""MSD and diffusion coefficients: known answers (lidiff_helpers.analysis.diffusion, lammps_dump)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lidiff_helpers.analysis import diffusion
from lidiff_helpers.analysis.diffusion import (
    CM2_S_PER_A2_PS,
    WrappedTrajectoryError,
    diffusion_coefficient,
    msd,
    msd_direct,
)
from lidiff_helpers.io import lammps_dump
from lidiff_helpers.io.trajectory import TrajectoryWriter
from lidiff_helpers.synthetic.trajectories import synthetic_interstitial_run

FS = lammps_dump.STUDY_TIMESTEP_FS  # the study's MD timestep, fs


def _random_walk(n_frames, n_atoms, D_A2_ps, dt_ps, seed, start_spread_A=20.0):
    rng = np.random.default_rng(seed)
    steps = rng.normal(scale=np.sqrt(2 * D_A2_ps * dt_ps), size=(n_frames, n_atoms, 3))
    steps[0] = rng.uniform(0, start_spread_A, size=(n_atoms, 3))
    return np.cumsum(steps, axis=0)


# ---------------------------------------------------------------- MSD algorithm


def test_fft_msd_equals_direct_to_1e10(tmp_path):
    x = _random_walk(300, 7, D_A2_ps=0.05, dt_ps=0.1, seed=3)
    ref = msd_direct(x, 0.1, collective=True)
    # also through a float32 memmap, in chunks of 3 atoms, with a subset of atoms
    mm = np.memmap(tmp_path / "x.bin", dtype=np.float32, mode="w+", shape=x.shape)
    mm[:] = x
    mm.flush()
    x32 = np.asarray(mm, dtype=np.float64)
    ref32 = msd_direct(x32, 0.1, collective=True)
    for data, r in ((x, ref), (mm, ref32)):
        got = msd(data, 0.1, collective=True, per_atom=True, chunk_atoms=3)
        np.testing.assert_allclose(got.msd_sum_A2, r.msd_sum_A2, rtol=0, atol=1e-10)
        np.testing.assert_allclose(got.msd_collective_A2, r.msd_collective_A2, rtol=0,
                                   atol=1e-10)
        np.testing.assert_allclose(got.msd_per_atom_A2, r.msd_per_atom_A2, rtol=0, atol=1e-10)
        np.testing.assert_allclose(got.lag_ps, r.lag_ps)
    short = msd(x, 0.1, max_lag=10)
    np.testing.assert_allclose(short.msd_sum_A2, ref.msd_sum_A2[:11], rtol=0, atol=1e-10)
    assert short.n_origins[0] == 300 and short.n_origins[-1] == 290
    sub = msd(x, 0.1, atoms=[1, 4, 5])
    np.testing.assert_allclose(sub.msd_sum_A2, ref.msd_per_atom_A2[:, [1, 4, 5]].sum(axis=1),
                               rtol=0, atol=1e-10)


def test_constant_velocity_msd_is_vt_squared_exactly():
    dt = 0.5
    t = np.arange(50) * dt
    v = np.array([[0.3, -0.1, 0.2], [0.0, 0.05, -0.4]])  # A/ps, two atoms
    x = 10.0 + v[None, :, :] * t[:, None, None]
    res = msd(x, dt, collective=True, per_atom=True)
    speed2 = (v ** 2).sum(axis=1)
    np.testing.assert_allclose(res.msd_per_atom_A2, speed2[None, :] * t[:, None] ** 2,
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(res.msd_A2, speed2.mean() * t ** 2, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(res.msd_collective_A2, (v.sum(axis=0) ** 2).sum() * t ** 2,
                               rtol=1e-12, atol=1e-12)


def test_four_frames_hand_computed():
    x = np.array([0.0, 1.0, 3.0, 2.0])[:, None, None] * np.array([1.0, 0, 0])
    res = msd(x, 1.0)
    # lag 1: (1 + 4 + 1)/3, lag 2: (9 + 1)/2, lag 3: 4/1
    np.testing.assert_allclose(res.msd_sum_A2, [0.0, 2.0, 5.0, 4.0], atol=1e-12)


# ---------------------------------------------------------------- D from random walks


@pytest.fixture(scope="module")
def walk():
    D_A2_ps, dt = 0.05, 0.1
    x = _random_walk(5000, 200, D_A2_ps, dt, seed=11)
    return x, D_A2_ps * CM2_S_PER_A2_PS, dt


def test_random_walk_tracer_and_sum_conventions_within_5_percent(walk):
    x, D_true, dt = walk
    tr = diffusion_coefficient(x, frame_interval_ps=dt, convention="tracer")
    de = diffusion_coefficient(x, frame_interval_ps=dt, convention="defect")
    assert tr.D_cm2_s == pytest.approx(D_true, rel=0.05)
    assert de.D_cm2_s == pytest.approx(200 * D_true, rel=0.05)
    assert de.D_cm2_s == pytest.approx(200 * tr.D_cm2_s, rel=1e-12)
    # independent walkers: collective = sum of self terms, Haven ratio ~ 1 (noisy)
    assert 0.3 < tr.haven_ratio < 3
    # the block error is realistic, the OLS error of correlated MSD points is not
    assert tr.D_err_cm2_s > 10 * tr.D_ols_err_cm2_s
    assert abs(tr.D_cm2_s - D_true) < 4 * tr.D_err_cm2_s


def test_wrong_D_would_fail(walk):
    x, D_true, dt = walk
    # same data read with the wrong frame interval: D off by 2x, outside the 5 % test
    res = diffusion_coefficient(x, frame_interval_ps=2 * dt, convention="tracer")
    assert res.D_cm2_s == pytest.approx(D_true / 2, rel=0.05)
    assert res.D_cm2_s != pytest.approx(D_true, rel=0.05)


@pytest.mark.slow
def test_block_error_is_calibrated_over_seeds():
    D_A2_ps, dt = 0.05, 0.1
    vals, errs = [], []
    for seed in range(40):
        r = diffusion_coefficient(_random_walk(2000, 20, D_A2_ps, dt, seed), frame_interval_ps=dt,
                                  convention="tracer")
        vals.append(r.D_cm2_s)
        errs.append(r.D_err_cm2_s)
    spread = np.std(vals, ddof=1)
    assert 0.6 < np.mean(errs) / spread < 1.6
    assert np.mean(vals) == pytest.approx(D_A2_ps * CM2_S_PER_A2_PS, rel=0.03)


def test_fit_window_rule_and_explicit_window(walk):
    assert diffusion.default_fit_window_ps(1000.0, n_blocks=5) == (20.0, 100.0)
    assert diffusion.default_fit_window_ps(20.0, n_blocks=5, min_start_ps=1.0) == (1.0, 2.0)
    with pytest.raises(ValueError, match="too short"):
        diffusion.default_fit_window_ps(5.0, n_blocks=5, min_start_ps=1.0)
    x, _, dt = walk
    r = diffusion_coefficient(x[:1000], frame_interval_ps=dt, fit_window_ps=(2.0, 15.0))
    assert r.fit_window_ps == (2.0, 15.0)
    with pytest.raises(ValueError, match="inside one of the 5 blocks"):
        diffusion_coefficient(x[:1000], frame_interval_ps=dt, fit_window_ps=(2.0, 50.0))


def test_bad_convention_and_species():
    x = _random_walk(200, 3, 0.05, 0.1, 0)
    with pytest.raises(ValueError, match="convention"):
        diffusion_coefficient(x, frame_interval_ps=0.1, convention="mean")
    with pytest.raises(ValueError, match="no Na atoms"):
        diffusion_coefficient(x, frame_interval_ps=0.1, numbers=[3, 3, 9], species="Na",
                              fit_window_ps=(0.2, 3.0))
    with pytest.raises(ValueError, match="frame_interval_ps"):
        diffusion_coefficient(x)


# ---------------------------------------------------------------- wrapped data refused


def test_wrapped_array_refused_with_and_without_cell():
    L = 12.0
    x = _random_walk(3000, 30, 0.5, 0.1, seed=5, start_spread_A=L)
    wrapped = np.mod(x, L)
    with pytest.raises(WrappedTrajectoryError, match="wrapped"):
        diffusion_coefficient(wrapped, frame_interval_ps=0.1, cell_A=np.eye(3) * L)
    with pytest.raises(WrappedTrajectoryError):
        diffusion_coefficient(wrapped, frame_interval_ps=0.1)
    # the unwrapped original passes the same check
    assert diffusion.check_unwrapped(x, np.eye(3) * L) < L / 2


def test_wrapped_trajectory_directory_refused(tmp_path):
    run = synthetic_interstitial_run(500, 1e-5, duration_ps=300, n_cells=2, seed=2)
    x = run.positions_A()
    L = run.cell_A[0, 0]
    with TrajectoryWriter(tmp_path / "wrapped", run.numbers, run.cell_A, run.frame_interval_ps) as w:
        for i, frame in enumerate(np.mod(x + 0.3 * L, L)):
            w.append(frame, i * run.frame_interval_ps)
    with pytest.raises(WrappedTrajectoryError):
        diffusion_coefficient(tmp_path / "wrapped")


# ---------------------------------------------------------------- trajectory inputs


def test_trajectory_directory_matches_array(tmp_path):
    run = synthetic_interstitial_run(450, 6.8e-6, duration_ps=400, n_cells=2, seed=4)
    traj = run.write(tmp_path / "run")
    a = diffusion_coefficient(tmp_path / "run")
    b = diffusion_coefficient(np.asarray(traj.positions_A), frame_interval_ps=run.frame_interval_ps,
                              numbers=run.numbers, cell_A=run.cell_A)
    assert a.D_cm2_s == pytest.approx(b.D_cm2_s, rel=1e-12)
    assert a.n_atoms == int((run.numbers == 3).sum()) == 33
    assert a.info["synthetic"] is True


def _write_dump(path, frames, ids, types, box_A, columns="id type xu yu zu", steps=None,
                images=None, shuffle_seed=0):
    rng = np.random.default_rng(shuffle_seed)
    lines = []
    for f, pos in enumerate(frames):
        order = rng.permutation(len(ids))  # LAMMPS does not sort atoms by id
        lines += ["ITEM: TIMESTEP", str(steps[f] if steps is not None else 100 * f),
                  "ITEM: NUMBER OF ATOMS", str(len(ids)), "ITEM: BOX BOUNDS pp pp pp"]
        lines += [f"0.0 {box_A:.6f}"] * 3
        lines.append("ITEM: ATOMS " + columns)
        for i in order:
            extra = "" if images is None else " " + " ".join(str(int(v)) for v in images[f][i])
            lines.append(f"{ids[i]} {types[i]} {pos[i, 0]:.6f} {pos[i, 1]:.6f} {pos[i, 2]:.6f}"
                         + extra)
    path.write_text("\n".join(lines) + "\n")


def test_lammps_dump_in_study_format(tmp_path):
    run = synthetic_interstitial_run(500, 1.2e-5, duration_ps=120, n_cells=2, seed=7)
    x = run.positions_A().astype(np.float64)
    ids = np.arange(1, run.numbers.size + 1)
    types = np.where(run.numbers == 3, 1, 2)
    dump = tmp_path / "dump.lammpstrj"
    _write_dump(dump, x, ids, types, run.cell_A[0, 0])
    assert lammps_dump.is_lammps_dump(dump)
    traj = lammps_dump.read_lammps_dump(dump, timestep_fs=FS)  # 1 fs, dump every 100 steps
    assert traj.frame_interval_ps == pytest.approx(0.1)
    assert traj.positions_A.shape == x.shape
    np.testing.assert_allclose(traj.positions_A, x, atol=2e-6)
    np.testing.assert_array_equal(traj.numbers, run.numbers)
    np.testing.assert_allclose(traj.cell_A, run.cell_A, atol=1e-6)
    a = diffusion_coefficient(dump, lammps_timestep_fs=FS)
    assert traj.info["timestep_fs"] == FS
    b = diffusion_coefficient(x, frame_interval_ps=0.1, numbers=run.numbers, cell_A=run.cell_A)
    assert a.D_cm2_s == pytest.approx(b.D_cm2_s, rel=1e-3)
    # streamed conversion to the trajectory format gives the same frames
    conv = lammps_dump.convert_lammps_dump(dump, tmp_path / "converted", timestep_fs=FS)
    np.testing.assert_allclose(np.asarray(conv.positions_A), traj.positions_A)
    assert conv.frame_interval_ps == pytest.approx(0.1)


def test_lammps_restart_dumps_concatenate(tmp_path):
    x = _random_walk(21, 4, 0.05, 0.1, 0)
    ids, types = np.arange(1, 5), np.array([1, 1, 2, 2])
    _write_dump(tmp_path / "a.lammpstrj", x[:11], ids, types, 30.0)
    _write_dump(tmp_path / "b.lammpstrj", x[10:], ids, types, 30.0)  # restart repeats frame 10
    traj = lammps_dump.read_lammps_dump([tmp_path / "a.lammpstrj", tmp_path / "b.lammpstrj"],
                                        timestep_fs=FS)
    assert traj.positions_A.shape[0] == 21
    np.testing.assert_allclose(traj.time_ps, np.arange(21) * 0.1)
    np.testing.assert_allclose(traj.positions_A, x, atol=2e-6)
    with pytest.raises(ValueError, match="previous dump's last frame"):
        lammps_dump.read_lammps_dump([tmp_path / "b.lammpstrj", tmp_path / "a.lammpstrj"],
                                     timestep_fs=FS)


def test_lammps_wrapped_dump_refused_and_image_flags_unwrapped(tmp_path):
    L = 10.0
    x = _random_walk(40, 6, 2.0, 0.1, 1, start_spread_A=L)
    img = np.floor(x / L)
    wrapped = x - img * L
    ids, types = np.arange(1, 7), np.array([1, 1, 1, 2, 2, 2])
    _write_dump(tmp_path / "w.lammpstrj", wrapped, ids, types, L, columns="id type x y z")
    with pytest.raises(WrappedTrajectoryError, match="xu yu zu"):
        lammps_dump.read_lammps_dump(tmp_path / "w.lammpstrj", timestep_fs=FS)
    with pytest.raises(WrappedTrajectoryError):
        diffusion_coefficient(tmp_path / "w.lammpstrj", lammps_timestep_fs=FS)
    _write_dump(tmp_path / "i.lammpstrj", wrapped, ids, types, L,
                columns="id type x y z ix iy iz", images=img)
    traj = lammps_dump.read_lammps_dump(tmp_path / "i.lammpstrj", timestep_fs=FS)
    np.testing.assert_allclose(traj.positions_A, x, atol=2e-5)


# ---------------------------------------------------------------- framework drift, replicas


def test_framework_drift_removal_restores_collective_displacement():
    # no vibration: the recoil of momentum conservation is the only difference
    run = synthetic_interstitial_run(500, 1.3e-5, duration_ps=1500, n_cells=2, seed=9,
                                          vibration_A={3: 0.0, 9: 0.0})
    x = run.positions_A()
    kw = {"frame_interval_ps": run.frame_interval_ps, "numbers": run.numbers, "cell_A": run.cell_A}
    on = diffusion_coefficient(x, remove_drift=True, **kw)
    off = diffusion_coefficient(x, remove_drift=False, **kw)
    m_li, m_f = 6.94, 18.998
    n_li, n_f = int((run.numbers == 3).sum()), int((run.numbers == 9).sum())
    shrink = 1 - n_li * m_li / (n_li * m_li + n_f * m_f)
    assert off.D_collective_cm2_s / on.D_collective_cm2_s == pytest.approx(shrink ** 2, rel=2e-3)
    # net Li displacement relative to F equals the sum of the scripted defect jumps
    drift = diffusion.framework_drift_A(x, np.flatnonzero(run.numbers == 9))
    li = run.numbers == 3
    net = (x[-1, li] - x[0, li]).astype(float).sum(axis=0) - li.sum() * drift[-1]
    jumps = sum(run.sites.jump_A(m[1], m[2]) for e in run.events for m in e.moves)
    np.testing.assert_allclose(net, jumps, atol=2e-3)


def test_combine_replicas():
    avg = diffusion.combine_replicas([1e-6, 3e-6], [0.1e-6, 0.1e-6])
    assert avg.D_cm2_s == pytest.approx(2e-6)
    assert avg.D_err_cm2_s == pytest.approx(1e-6)  # between-replica SEM dominates
    one = diffusion.combine_replicas([2e-6], [0.4e-6])
    assert one.D_err_cm2_s == pytest.approx(0.4e-6)
    assert np.isnan(diffusion.combine_replicas([2e-6]).D_err_cm2_s)


def test_manifest_reading(tmp_path):
    (tmp_path / "md").mkdir()
    entries = [
        {"model": "m", "temperature_K": 450, "replica": 0, "trajectory": "md/run0",
         "status": "done", "purpose": "arrhenius"},
        {"model": "m", "temperature_K": 500, "replica": 0, "trajectory": "/abs/run1",
         "status": "failed", "purpose": "arrhenius"},
    ]
    (tmp_path / "md" / "manifest.json").write_text(json.dumps(entries))
    runs = diffusion.read_manifest(tmp_path / "md" / "manifest.json")
    assert len(runs) == 1 and runs[0]["trajectory"] == str(tmp_path / "md" / "run0")
    bad = [dict(entries[0])]
    del bad[0]["purpose"]
    (tmp_path / "md" / "manifest.json").write_text(json.dumps(bad))
    with pytest.raises(ValueError, match="purpose"):
        diffusion.read_manifest(tmp_path / "md" / "manifest.json")
