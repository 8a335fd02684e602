"""Hop detection on hand-placed positions: a tiny rock-salt LiF cell written out with explicit
coordinates (no code shared with the detector's site model or the synthetic generator), and
scripted moves whose events are known by construction."""

from __future__ import annotations

import numpy as np
import pytest

from lidiff_helpers.analysis.hops import detect_hops
from lidiff_helpers.io.trajectory import Trajectory

A = 4.0          # lattice constant, A (any value: the detector fits it from the F atoms)
N_CELLS = 2      # 2x2x2 conventional cells: 32 Li + 32 F + 1 interstitial Li
DT = 0.1         # frame interval, ps
SHIFT = np.array([0.37, -0.21, 0.55])  # a rigid offset of the whole crystal, A

FCC = np.array([[0.0, 0.0, 0.0], [0.0, 0.5, 0.5], [0.5, 0.0, 0.5], [0.5, 0.5, 0.0]])


def _crystal():
    """Li on the fcc sites of every cell, F shifted by (a/2, 0, 0); rows in A."""
    cells = np.array([[i, j, k] for i in range(N_CELLS) for j in range(N_CELLS)
                      for k in range(N_CELLS)], dtype=float)
    li = ((cells[:, None, :] + FCC[None, :, :]) * A).reshape(-1, 3)
    f = li + np.array([A / 2, 0.0, 0.0])
    return li, f


LI, F = _crystal()
# tetrahedral sites (1/4, 1/4, 1/4) a from a lattice site, in A (a = 4 A: odd coordinates)
T1 = np.array([1.0, 1.0, 1.0])   # the interstitial starts here
L = np.array([2.0, 2.0, 0.0])    # a lattice site next to T1 (distance sqrt(3) A)
T2 = np.array([3.0, 3.0, 1.0])   # a tetrahedral site next to L, across from T1
T3 = np.array([5.0, 3.0, 1.0])   # the tetrahedral site a/2 from T2 along x
B = int(np.flatnonzero(np.all(np.isclose(LI, L), axis=1))[0])   # the Li on L
INT = len(LI) + len(F)            # the interstitial's index (after all Li and F)


def _frames(n_frames: int, moves: list[tuple[int, int, np.ndarray, np.ndarray]], seed=0,
            vibration_A: float = 0.05) -> np.ndarray:
    """Positions (n_frames, 65, 3): each move (atom, frame, from, to) puts the atom halfway at
    ``frame`` and at ``to`` from ``frame + 1`` on; small seeded vibration on every atom."""
    base = np.concatenate([LI, F, T1[None]])
    x = np.repeat(base[None], n_frames, axis=0)
    for atom, frame, a, b in moves:
        x[frame, atom] = (a + b) / 2
        x[frame + 1:, atom] = b
    rng = np.random.default_rng(seed)
    x = x + rng.normal(scale=vibration_A, size=x.shape) + SHIFT
    return x


def _traj(x):
    numbers = np.array([3] * len(LI) + [9] * len(F) + [3])
    return Trajectory(path=None, numbers=numbers, cell_A=np.eye(3) * A * N_CELLS,
                      pbc=(True,) * 3, frame_interval_ps=DT, positions_A=x,
                      time_ps=np.arange(len(x)) * DT, unwrapped=True, info={})


def _same_point(h, code, want_A):
    d = h.sites.site_position_A(code) - (want_A + SHIFT)
    box = A * N_CELLS
    np.testing.assert_allclose(d - box * np.round(d / box), 0.0, atol=0.1)


def test_knockoff_then_direct_hop_detected_exactly():
    # knock-off at frame 50: I goes T1 -> L while B goes L -> T2; then B hops T2 -> T3
    x = _frames(200, [(INT, 50, T1, L), (B, 50, L, T2), (B, 120, T2, T3)])
    h = detect_hops(_traj(x))
    assert h.counts == {"knockoff": 1, "direct": 1, "lattice_hop": 0, "frenkel": 0,
                        "recombination": 0}
    ko, direct = h.events
    assert ko.kind == "knockoff" and ko.atoms == (INT, B)
    assert ko.frame == 51 and ko.frame_left == 49
    assert ko.time_ps == pytest.approx(5.1)
    _same_point(h, ko.lattice_site, L)
    np.testing.assert_allclose(ko.defect_jump_A, T2 - T1, atol=1e-9)    # the defect moved
    assert ko.sum_sq_jump_A2 == pytest.approx(3.0 + 3.0)                # 2 x (a sqrt3/4)^2
    assert direct.kind == "direct" and direct.atoms == (B,) and direct.frame == 121
    np.testing.assert_allclose(direct.defect_jump_A, T3 - T2, atol=1e-9)
    assert direct.sum_sq_jump_A2 == pytest.approx(4.0)                  # (a/2)^2
    assert h.sites.a_A == pytest.approx(A)
    assert np.all(h.n_interstitial == 1)
    assert h.D_event_sum_cm2_s == pytest.approx(10.0 / (6 * 19.9) * 1e-4)
    assert h.D_event_defect_cm2_s == pytest.approx((8.0 + 4.0) / (6 * 19.9) * 1e-4)


def test_brief_visit_is_no_event_and_lone_moves_are_classified():
    # I visits L's core for 2 frames (0.2 ps < min_residence 0.5 ps) and returns: nothing
    visit = _frames(100, [(INT, 40, T1, L), (INT, 42, L, T1)], seed=1)
    assert sum(detect_hops(_traj(visit)).counts.values()) == 0
    # ... but with min_residence_ps = 0 the same visit counts (the test is sharp)
    assert sum(detect_hops(_traj(visit), min_residence_ps=0.0).counts.values()) > 0
    # a lattice Li leaving for a tetrahedral site alone: a Frenkel pair, 2 interstitials after
    fr = detect_hops(_traj(_frames(100, [(B, 30, L, T2)], seed=2)))
    assert fr.counts["frenkel"] == 1 and sum(fr.counts.values()) == 1
    assert fr.n_interstitial[0] == 1 and fr.n_interstitial[-1] == 2
    # I entering L while B stays: no partner leaves, so it is not a knock-off
    # (B moved away far later than the pair window): a recombination then a frenkel
    late = detect_hops(_traj(_frames(200, [(B, 30, L, T2), (INT, 150, T1, L)], seed=3)))
    assert late.counts["knockoff"] == 0
    assert late.counts["frenkel"] == 1 and late.counts["recombination"] == 1
