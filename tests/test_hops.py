"""Hop events in rock-salt LiF: exact counts on scripted synthetic trajectories
(lidiff_helpers.analysis.hops; hand-placed positions in tests/test_hops_handplaced.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lidiff_helpers.analysis import hops
from lidiff_helpers.analysis.diffusion import WrappedTrajectoryError, diffusion_coefficient
from lidiff_helpers.core.units import LIF_A_STUDY_A
from lidiff_helpers.io.trajectory import Trajectory
from lidiff_helpers.synthetic.trajectories import (
    synthetic_interstitial_run,
    write_synthetic_runs,
)

SCRIPT = [(5.0, "knockoff"), (12.0, "knockoff"), (20.0, "direct"), (27.5, "knockoff"),
          (33.0, "direct"), (40.0, "knockoff"), (46.0, "knockoff")]


def _traj(run, x=None):
    x = run.positions_A() if x is None else x
    return Trajectory(path=None, numbers=run.numbers, cell_A=run.cell_A, pbc=(True,) * 3,
                      frame_interval_ps=run.frame_interval_ps, positions_A=x,
                      time_ps=np.arange(len(x)) * run.frame_interval_ps, unwrapped=True, info={})


def test_scripted_knockoffs_counted_exactly():
    run = synthetic_interstitial_run(450, 0.0, duration_ps=55, n_cells=2, seed=1,
                                          scripted_events=SCRIPT)
    h = hops.detect_hops(_traj(run))
    assert h.counts == {"knockoff": 5, "direct": 2, "lattice_hop": 0, "frenkel": 0,
                        "recombination": 0}
    for got, want in zip(h.events, run.events):
        assert got.kind == want.kind
        # detected when the move (0.2 ps) ends, within a frame
        assert want.time_ps <= got.time_ps <= want.time_ps + run.transit_ps + 0.1 + 1e-9
        assert got.atoms == tuple(m[0] for m in want.moves)
        jump = sum(run.sites.jump_A(m[1], m[2]) for m in want.moves)
        np.testing.assert_allclose(got.defect_jump_A, jump, atol=1e-2)
        if got.kind == "knockoff":  # same lattice site (codes differ: fitted origin)
            d = h.sites.site_position_A(got.lattice_site) - \
                run.sites.site_position_A(want.moves[0][2])
            L = run.cell_A[0, 0]
            np.testing.assert_allclose(d - L * np.round(d / L), 0.0, atol=0.05)
    assert np.all(h.n_interstitial == 1)


def test_knockoff_count_would_fail_if_events_were_missed():
    # one scripted knock-off fewer is a different count: the test above is sharp
    run = synthetic_interstitial_run(450, 0.0, duration_ps=55, n_cells=2, seed=1,
                                          scripted_events=SCRIPT[:-1])
    assert hops.detect_hops(_traj(run)).n_knockoff == 4


def test_thermal_vibration_is_not_a_hop_but_would_be_without_hysteresis():
    run = synthetic_interstitial_run(450, 0.0, duration_ps=200, n_cells=2, seed=3,
                                          vibration_A={3: 0.30, 9: 0.15})
    assert len(run.events) == 0
    tr = _traj(run)
    assert sum(hops.detect_hops(tr).counts.values()) == 0
    # a single in-core frame counting as a site change: vibration makes spurious "hops"
    spurious = hops.detect_hops(tr, min_residence_ps=0.0)
    assert sum(spurious.counts.values()) > 0


def test_poisson_run_event_D_matches_generated_events():
    D = 1.3e-5
    run = synthetic_interstitial_run(500, D, duration_ps=1000, n_cells=2, seed=5)
    h = hops.detect_hops(_traj(run))
    want = run.counts
    assert h.n_knockoff == want.get("knockoff", 0) and h.n_direct == want.get("direct", 0)
    true_sq = sum(float(run.sites.jump_A(m[1], m[2]) @ run.sites.jump_A(m[1], m[2]))
                  for e in run.events for m in e.moves)
    assert h.D_event_sum_cm2_s == pytest.approx(true_sq / (6 * h.duration_ps) * 1e-4, rel=1e-9)
    # and the event rate follows the target D within Poisson noise
    n = len(run.events)
    assert h.D_event_sum_cm2_s == pytest.approx(D, rel=4 / math.sqrt(n))


def test_synthetic_D_recovered_by_msd_and_events():
    D = 2.0e-5  # cm^2/s, defect convention
    run = synthetic_interstitial_run(550, D, duration_ps=20000, frame_interval_ps=1.0,
                                          n_cells=2, seed=8, min_gap_ps=1.0)
    x = run.positions_A()
    res = diffusion_coefficient(x, frame_interval_ps=run.frame_interval_ps, numbers=run.numbers,
                                cell_A=run.cell_A)
    assert res.D_defect_cm2_s == pytest.approx(D, rel=0.1)
    assert abs(res.D_defect_cm2_s - D) < 3 * res.D_defect_err_cm2_s
    assert res.D_tracer_cm2_s == pytest.approx(res.D_defect_cm2_s / res.n_atoms)
    assert res.haven_ratio == pytest.approx(1.0, abs=0.3)  # uncorrelated model: H_R = 1


def test_site_geometry_and_origin_fit():
    sites = hops.RockSaltSites(a_A=4.0, n_cells=2, origin_A=np.zeros(3))
    assert sites.lattice_tet_distance_A == pytest.approx(math.sqrt(3))
    pts = np.array([[0.0, 0.0, 0.0],      # Li lattice site
                    [1.0, 1.0, 1.0],      # tetrahedral site (1/4,1/4,1/4) a
                    [0.5, 0.5, 0.5],      # halfway: in no core
                    [2.0, 2.0, 0.0]])     # Li lattice site (1/2,1/2,0) a
    codes = sites.classify(pts, r_core_A=0.7)
    assert codes[0] == 0 and codes[2] == -1
    assert sites.is_tet(codes[1]) and not sites.is_tet(codes[3])
    np.testing.assert_allclose(sites.site_position_A(codes[[0, 1, 3]]), pts[[0, 1, 3]])
    # the lattice fit follows an arbitrary rigid shift of the crystal
    run = synthetic_interstitial_run(300, 0.0, duration_ps=1, n_cells=3, seed=0)
    x = run.positions_A()[0]
    shift = np.array([1.3, -0.7, 2.1])
    fitted = hops.fit_rocksalt_sites(run.cell_A, (x + shift)[run.numbers == 9])
    li = (x + shift)[run.numbers == 3]
    assert np.all(fitted.classify(li, 0.7) >= 0)
    assert fitted.a_A == pytest.approx(LIF_A_STUDY_A)
    with pytest.raises(ValueError, match="4 n"):
        hops.fit_rocksalt_sites(run.cell_A, x[run.numbers == 9][:-1])


def test_wrapped_positions_refused():
    run = synthetic_interstitial_run(450, 0.0, duration_ps=55, n_cells=2, seed=1,
                                          scripted_events=SCRIPT)
    x = run.positions_A()
    L = run.cell_A[0, 0]
    with pytest.raises(WrappedTrajectoryError):
        hops.detect_hops(_traj(run, np.mod(x + 0.5 * L, L)))


def test_write_synthetic_runs_reuses_cache(tmp_path):
    kw = {"Ea_eV": 0.24, "D0_cm2_s": 3.3e-3, "n_replicas": 1, "duration_ps": 60,
          "n_cells": 2, "seed": 1}
    runs = write_synthetic_runs(tmp_path, [450.0], **kw)
    mtime = (tmp_path / "synthetic_450K_r0" / "positions.bin").stat().st_mtime_ns
    again = write_synthetic_runs(tmp_path, [450.0], **kw)
    assert again == runs
    assert (tmp_path / "synthetic_450K_r0" / "positions.bin").stat().st_mtime_ns == mtime
    assert runs[0]["D_defect_true_cm2_s"] == pytest.approx(6.77e-6, rel=1e-3)


def test_figure1_geometry_of_a_scripted_knockoff():
    """Figure 1's cube is centred on the exchanged lattice site: the knocked-off Li sits
    there before, the incoming Li after, and the knocked-off Li ends on a tetrahedral site
    (a sqrt(3)/4 away); the figure has the three 3D panels."""
    import matplotlib

    matplotlib.use("Agg")
    from lidiff_helpers.figures import diffusion as fd

    run = synthetic_interstitial_run(500.0, 1e-5, duration_ps=12.0, seed=1,
                                     scripted_events=[(5.0, "knockoff")])
    tr = _traj(run)
    (e,) = hops.detect_hops(tr, min_residence_ps=0.3).of_kind("knockoff")
    frames, sites, local = fd.knockoff_frames(tr, e)
    a_in, a_out = e.atoms
    vib = 0.35  # A: synthetic vibration amplitude allowance
    assert np.linalg.norm(local(tr.positions_A[frames["before"], a_out])) < vib
    assert np.linalg.norm(local(tr.positions_A[frames["after"], a_in])) < vib
    r_out = np.linalg.norm(local(tr.positions_A[frames["after"], a_out]))
    assert r_out == pytest.approx(sites.lattice_tet_distance_A, abs=vib)
    fig = fd.plot_knockoff_snapshots(tr, e, synthetic=True)
    assert [ax.name for ax in fig.axes] == ["3d"] * 3
    assert fig.legends and len(fig.legends[0].get_texts()) == 8
