"""kinisi's D beside lidiff's: known D on synthetic walks, the defect mapping, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from lidiff_helpers.analysis import kinisi_check as kc
from lidiff_helpers.analysis.diffusion import diffusion_coefficient
from lidiff_helpers.analysis.hops import detect_hops
from lidiff_helpers.core.errors import ParameterError, TrajectoryError, WrappedTrajectoryError
from lidiff_helpers.core.units import CM2_S_PER_A2_PS
from lidiff_helpers.io.loading import load_trajectory
from lidiff_helpers.synthetic.trajectories import synthetic_interstitial_run

BOX_A = 30.0


def _walkers(n_mobile: int, n_still: int, D_cm2_s: float, *, n_frames: int = 2001,
             dt_ps: float = 0.1, n_f: int = 16, seed: int = 0) -> np.ndarray:
    """Unwrapped positions: ``n_mobile`` Li Gaussian walkers with D (per atom), then
    ``n_still`` Li and ``n_f`` F that only vibrate (0.05 A) about fixed sites."""
    rng = np.random.default_rng(seed)
    sigma = np.sqrt(2 * D_cm2_s / CM2_S_PER_A2_PS * dt_ps)  # per axis and step, A
    steps = rng.normal(scale=sigma, size=(n_frames, n_mobile, 3))
    steps[0] = 0.0
    mobile = rng.uniform(0, BOX_A, size=(n_mobile, 3)) + np.cumsum(steps, axis=0)
    n_fix = n_still + n_f
    fixed = rng.uniform(0, BOX_A, size=(n_fix, 3)) + rng.normal(scale=0.05,
                                                                size=(n_frames, n_fix, 3))
    return np.concatenate([mobile, fixed], axis=1)


def _trajectory(positions_A, n_li: int, dt_ps: float = 0.1, cell: bool = True):
    numbers = np.array([3] * n_li + [9] * (positions_A.shape[1] - n_li))
    return load_trajectory(positions_A, frame_interval_ps=dt_ps, numbers=numbers,
                           cell_A=np.eye(3) * BOX_A if cell else None)


def _inside(x: float, interval) -> bool:
    return interval[0] <= x <= interval[1]


def test_random_walkers_known_D_star():
    """Independent walkers: kinisi's D* and lidiff's tracer D both find the set D*."""
    D_set, n_li = 1e-5, 16
    traj = _trajectory(_walkers(n_li, 0, D_set), n_li)
    res = diffusion_coefficient(traj)
    est = kc.kinisi_diffusion(traj, start_dt_ps=res.fit_window_ps[0])
    assert est.n_atoms == n_li and est.species == "Li" and est.kinisi_version == "2.1.0"
    assert _inside(D_set, est.D_star_ci_cm2_s)
    assert abs(res.D_tracer_cm2_s - D_set) <= kc.AGREEMENT_SIGMA * res.D_tracer_err_cm2_s
    lid = (res.D_tracer_cm2_s - kc.AGREEMENT_SIGMA * res.D_tracer_err_cm2_s,
           res.D_tracer_cm2_s + kc.AGREEMENT_SIGMA * res.D_tracer_err_cm2_s)
    assert est.D_star_ci_cm2_s[0] <= lid[1] and lid[0] <= est.D_star_ci_cm2_s[1]
    # both conventions scale by N_Li
    assert est.D_defect_cm2_s == pytest.approx(n_li * est.D_star_cm2_s, rel=1e-12)
    assert est.D_defect_ci_cm2_s == pytest.approx(tuple(n_li * x for x in est.D_star_ci_cm2_s))
    assert res.D_defect_cm2_s == pytest.approx(n_li * res.D_tracer_cm2_s, rel=1e-12)


def test_one_mobile_li_defect_D_independent_of_spectators():
    """One walker among N_Li Li that do not move: the sum over Li of the MSD is the
    walker's, so D_defect = N_Li D* must equal the walker's D whatever N_Li is, while
    kinisi's per-atom D* falls as 1/N_Li."""
    D_walker = 2e-5
    pos = _walkers(1, 8, D_walker, n_frames=3001, seed=3)
    alone = np.delete(pos, np.s_[1:9], axis=1)          # the walker and the F only
    e9 = kc.kinisi_diffusion(_trajectory(pos, 9), start_dt_ps=2.0)
    e1 = kc.kinisi_diffusion(_trajectory(alone, 1), start_dt_ps=2.0)
    assert (e9.n_atoms, e1.n_atoms) == (9, 1)
    assert _inside(D_walker, e9.D_defect_ci_cm2_s) and _inside(D_walker, e1.D_defect_ci_cm2_s)
    assert e9.D_defect_cm2_s == pytest.approx(e1.D_defect_cm2_s, rel=0.15)
    assert e9.D_star_cm2_s == pytest.approx(e1.D_star_cm2_s / 9, rel=0.15)
    res9 = diffusion_coefficient(_trajectory(pos, 9), fit_window_ps=(2.0, 50.0))
    res1 = diffusion_coefficient(_trajectory(alone, 1), fit_window_ps=(2.0, 50.0))
    # lidiff's defect D: the spectators add only their 0.05 A vibration
    assert res9.D_defect_cm2_s == pytest.approx(res1.D_defect_cm2_s, rel=1e-3)
    assert res9.D_tracer_cm2_s == pytest.approx(res1.D_tracer_cm2_s / 9, rel=1e-3)


def test_interstitial_run_three_estimates_agree_with_the_set_D():
    """A synthetic interstitial (knock-off) run with D_defect set: lidiff, kinisi (x N_Li)
    and the event-based D from hop counts all recover it; the table says they agree."""
    D_set = 2e-5
    run = synthetic_interstitial_run(500.0, D_set, duration_ps=1000.0, frame_interval_ps=0.25,
                                     n_cells=2, seed=0)
    traj = load_trajectory(run.positions_A(), frame_interval_ps=run.frame_interval_ps,
                           numbers=run.numbers, cell_A=run.cell_A)
    res = diffusion_coefficient(traj)
    hops = detect_hops(traj)
    table = kc.kinisi_table([res], [traj], hops=[hops])
    row = table.iloc[0]
    assert row["n_atoms"] == 33 and row["trajectory"] == "in-memory trajectory"
    assert row["kinisi_D_defect_low_cm2_s"] <= D_set <= row["kinisi_D_defect_high_cm2_s"]
    # lidiff's error comes from 5 blocks (4 degrees of freedom: Student t 95 % = 2.78), so
    # the set D is checked at 3 x err; the table's "agree" uses AGREEMENT_SIGMA
    assert abs(res.D_defect_cm2_s - D_set) <= 3 * res.D_defect_err_cm2_s
    assert abs(row["D_event_sum_cm2_s"] - D_set) <= 3 * row["D_event_sum_err_cm2_s"]
    assert bool(row["agree"])
    assert row["lidiff_D_defect_cm2_s"] == res.D_defect_cm2_s
    assert row["kinisi_start_dt_ps"] == pytest.approx(res.fit_window_ps[0])
    assert row["kinisi_D_defect_cm2_s"] == pytest.approx(33 * row["kinisi_D_star_cm2_s"])


def test_seeded_and_global_rng_untouched():
    traj = _trajectory(_walkers(4, 0, 1e-5, n_frames=401), 4)
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    a = kc.kinisi_diffusion(traj, start_dt_ps=1.0, seed=7, n_samples=100, n_burn=50)
    assert np.array_equal(np.random.get_state()[1], before)
    b = kc.kinisi_diffusion(traj, start_dt_ps=1.0, seed=7, n_samples=100, n_burn=50)
    c = kc.kinisi_diffusion(traj, start_dt_ps=1.0, seed=8, n_samples=100, n_burn=50)
    assert a == b
    assert c.D_star_cm2_s != a.D_star_cm2_s
    assert a.n_posterior_samples == 32 * 100 // 10


def test_lag_times_map_back_to_frames():
    lags = np.arange(1, 5000)
    for dt in (0.01, 0.1, 0.25, 0.3, 1 / 3):
        t = kc._lag_times_ps(lags, dt)
        assert np.array_equal((t / dt).astype(int), lags)
        assert np.max(np.abs(t - lags * dt)) < 1e-9


@pytest.fixture
def no_kinisi(monkeypatch):
    """Make any call into kinisi fail loudly: bad input must stop before it."""
    from kinisi.analyze import DiffusionAnalyzer

    def boom(*args, **kwargs):
        raise AssertionError("kinisi ran on bad input")

    monkeypatch.setattr(DiffusionAnalyzer, "from_ase", boom)


def _bad(kind: str):
    pos = _walkers(4, 0, 1e-5, n_frames=201)
    if kind == "wrapped":
        pos[100:, 0, 0] -= BOX_A  # atom 0 wrapped back through the x face at frame 100
        return _trajectory(pos, 4), {}
    if kind == "few_frames":
        return _trajectory(pos[:5], 4), {}
    if kind == "no_li":
        return _trajectory(pos, 0), {}
    if kind == "no_cell":
        return _trajectory(pos, 4, cell=False), {}
    if kind == "no_numbers":
        return load_trajectory(pos, frame_interval_ps=0.1, cell_A=np.eye(3) * BOX_A), {}
    if kind == "late_start":
        return _trajectory(pos, 4), {"start_dt_ps": 19.95}
    if kind == "bad_start":
        return _trajectory(pos, 4), {"start_dt_ps": -1.0}
    if kind == "stride":
        return _trajectory(pos, 4), {"frame_stride": 0}
    raise AssertionError(kind)


@pytest.mark.parametrize("kind, error, match", [
    ("wrapped", WrappedTrajectoryError, r"atom 0 moves 30\.\d+ A along x between frames 99"),
    ("few_frames", TrajectoryError, r"the trajectory: 5 frames \(frame_stride 1\), too few"),
    ("no_li", ParameterError, r"no Li atoms in the trajectory"),
    ("no_cell", ParameterError, r"no cell .*kinisi needs the simulation cell"),
    ("no_numbers", ParameterError, r"no atomic numbers; kinisi selects atoms by element"),
    ("late_start", TrajectoryError, r"leave 1 lag\(s\) from start_dt_ps = 19\.95 ps"),
    ("bad_start", ParameterError, r"start_dt_ps must be a positive time"),
    ("stride", ParameterError, r"frame_stride must be >= 1, got 0"),
])
def test_bad_input_stops_before_kinisi(no_kinisi, kind, error, match):
    traj, kw = _bad(kind)
    with pytest.raises(error, match=match):
        kc.kinisi_diffusion(traj, **{"start_dt_ps": 1.0, **kw})


def test_too_many_positions_names_the_stride(no_kinisi, monkeypatch, tmp_path):
    monkeypatch.setattr(kc, "MAX_KINISI_POSITIONS", 1000)
    traj = _trajectory(_walkers(4, 0, 1e-5, n_frames=201), 4)  # 201 x 20 positions
    with pytest.raises(ParameterError, match=r"201 frames x 20 atoms at frame_stride 1 exceed "
                                             r"MAX_KINISI_POSITIONS = 1000.*frame_stride >= 5"):
        kc.kinisi_diffusion(traj, start_dt_ps=1.0, frame_stride=1)
    assert kc._stride(None, 201, 20, "x") == 5


def test_table_needs_one_trajectory_per_result(no_kinisi):
    traj = _trajectory(_walkers(4, 0, 1e-5, n_frames=201), 4)
    res = diffusion_coefficient(traj, fit_window_ps=(0.5, 3.0))
    with pytest.raises(ParameterError, match=r"1 results, 2 trajectories and 1 hop analyses"):
        kc.kinisi_table([res], [traj, traj])
