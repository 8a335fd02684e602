r"""Li hop events in rock-salt LiF: site assignment, knock-off detection, event-based D.

Geometry
--------
Cubic rock-salt cell of ``n_cells`` conventional cells, lattice constant
``a = box length / n_cells``. In units of a/2, Li lattice sites are the integer points
with an even coordinate sum (one fcc), F sites those with an odd sum (the other fcc), and
the interstitial sites are the tetrahedral sites at (1/4, 1/4, 1/4) a offsets, i.e. the
half-integer points: each is the centre of a small cube with 4 Li and 4 F at its corners,
a*sqrt(3)/4 (1.74 A in LiF) from each; tetrahedral sites form a simple-cubic lattice of
spacing a/2. The origin is fitted to the F sublattice at frame 0 and follows the F
sublattice's mean drift.

Assignment with hysteresis
--------------------------
A Li is *in* a site when it is within ``r_core_A`` of its centre (default 0.4 of the
lattice-tetrahedral distance, 0.70 A in LiF: disjoint cores, well outside thermal
vibration). Frames where it is in no core (in transit, or vibrating far out) keep the
previous site: they never make an event. A new site counts only after the atom was seen in
its core on at least ``min_residence_ps`` worth of frames (default 0.5 ps, a few
vibrational periods); shorter visits are treated as attempted, unsuccessful hops and
dropped. The hop time is the first in-core frame of the new site.

Events
------
``knockoff`` (interstitialcy): an interstitial Li moves into lattice site L while the Li
of L leaves it for a tetrahedral site, within ``pair_window_ps``. ``direct``: a Li moves
from one tetrahedral site to another. ``lattice_hop``: lattice site to lattice site
(vacancy or ring mechanisms). Unpaired lattice-to-interstitial (``frenkel``) and
interstitial-to-lattice (``recombination``) moves are counted separately.

Event-based diffusion coefficients, to cross-check the MSD (:mod:`lidiff_helpers.analysis.diffusion`,
the study's Eq. 2), with T the analysed duration:

* ``D_event_sum_cm2_s`` = sum over all site changes of |jump|^2 / (6 T): rate x jump
  length^2 / 6 for the atoms, comparable to the ``defect`` convention (sum over Li of the
  MSD) when successive jumps of an atom are uncorrelated;
* ``D_event_defect_cm2_s`` = sum over knock-off and direct events of |defect jump|^2 /
  (6 T), where a knock-off moves the interstitial from the incoming atom's old
  tetrahedral site to the outgoing atom's new one; comparable to the ``collective``
  convention when successive defect jumps are uncorrelated.

The module also generates synthetic trajectories of this mechanism with a known D
(:func:`synthetic_interstitial_run`), used by the tests and by notebook 05 when no MD
trajectories exist.

Split (dumbbell) interstitials that sit between a lattice and a tetrahedral site stay "in
transit" for the assignment: they delay, but do not fake, events.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from lidiff_helpers.analysis.diffusion import (
    CM2_S_PER_A2_PS,
    DIMENSIONS,
    _frame_pass,
    check_unwrapped,
    load_trajectory,
)

__all__ = [
    "LIF_LATTICE_CONSTANT_A",
    "HopAnalysis",
    "HopEvent",
    "RockSaltSites",
    "SyntheticEvent",
    "SyntheticRun",
    "assign_sites",
    "detect_hops",
    "fit_rocksalt_sites",
    "knockoff_sum_sq_jump_A2",
    "synthetic_interstitial_run",
    "write_synthetic_runs",
]

#: LiF rock-salt lattice constant near room temperature, A (used by the synthetic runs)
LIF_LATTICE_CONSTANT_A = 4.03
_MASS = {3: 6.94, 9: 18.998}  # amu, Li and F (for the synthetic recoil)

TRANSIT = -1


# --------------------------------------------------------------------------------------
# Lattice geometry
# --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RockSaltSites:
    """Site geometry of a cubic rock-salt supercell.

    Attributes
    ----------
    a_A : lattice constant, A
    n_cells : conventional cells per edge
    origin_A : (3,) position of the Li lattice site with half-lattice coordinates (0,0,0)

    Site codes (int): lattice site with half-lattice coordinates p (even sum, taken modulo
    2 n_cells) is ``(p0*2n + p1)*2n + p2``; tetrahedral site with centre q + 1/2 is
    ``n_codes + (q0*2n + q1)*2n + q2``; ``-1`` = in no core.
    """

    a_A: float
    n_cells: int
    origin_A: np.ndarray

    @property
    def box_A(self) -> float:
        return self.a_A * self.n_cells

    @property
    def n_codes(self) -> int:
        return (2 * self.n_cells) ** 3

    @property
    def knockoff_sum_sq_jump_A2(self) -> float:
        """Sum of the two atoms' squared jumps in one knock-off, 2 (a sqrt(3)/4)^2, A^2."""
        return 2 * self.lattice_tet_distance_A ** 2

    @property
    def lattice_tet_distance_A(self) -> float:
        """Distance from a lattice site to its nearest tetrahedral sites, a*sqrt(3)/4."""
        return self.a_A * math.sqrt(3) / 4

    def is_tet(self, code) -> np.ndarray:
        return np.asarray(code) >= self.n_codes

    def half_coords(self, code) -> np.ndarray:
        """Half-lattice coordinates (units of a/2) of site centres, shape (..., 3)."""
        code = np.asarray(code)
        tet = code >= self.n_codes
        c = np.where(tet, code - self.n_codes, code)
        m = 2 * self.n_cells
        out = np.stack([c // (m * m), (c // m) % m, c % m], axis=-1).astype(float)
        return out + 0.5 * tet[..., None]

    def site_position_A(self, code) -> np.ndarray:
        """Cartesian centre of site ``code`` in the reference cell (A, frame-0 origin)."""
        return self.origin_A + self.half_coords(code) * (self.a_A / 2)

    def jump_A(self, code_from, code_to) -> np.ndarray:
        """Minimum-image vector from one site centre to another (A), shape (..., 3)."""
        m = 2 * self.n_cells
        d = self.half_coords(code_to) - self.half_coords(code_from)
        d = d - m * np.round(d / m)
        return d * (self.a_A / 2)

    def _code(self, p: np.ndarray, tet: bool) -> np.ndarray:
        m = 2 * self.n_cells
        p = np.mod(p, m).astype(np.int64)
        return (p[..., 0] * m + p[..., 1]) * m + p[..., 2] + (self.n_codes if tet else 0)

    def classify(self, positions_A: np.ndarray, r_core_A: float,
                 origin_A: np.ndarray | None = None) -> np.ndarray:
        """Site code of each position (or -1 when in no core). positions (..., 3) in A."""
        o = self.origin_A if origin_A is None else origin_A
        u = (np.asarray(positions_A, dtype=np.float64) - o) / (self.a_A / 2)
        f = np.rint(u)
        odd = (f.sum(axis=-1) % 2) != 0
        r = u - f
        k = np.argmax(np.abs(r), axis=-1)
        step = np.where(np.take_along_axis(r, k[..., None], -1)[..., 0] >= 0, 1.0, -1.0)
        f_fix = f.copy()
        np.put_along_axis(f_fix, k[..., None], (np.take_along_axis(f, k[..., None], -1)[..., 0]
                                                + step)[..., None], axis=-1)
        f = np.where(odd[..., None], f_fix, f)
        d_lat = np.linalg.norm(u - f, axis=-1) * (self.a_A / 2)
        q = np.floor(u)
        d_tet = np.linalg.norm(u - q - 0.5, axis=-1) * (self.a_A / 2)
        out = np.full(u.shape[:-1], TRANSIT, dtype=np.int64)
        lat = d_lat < r_core_A
        tet = (d_tet < r_core_A) & ~lat
        out[lat] = self._code(f[lat], False)
        out[tet] = self._code(q[tet], True)
        return out


def fit_rocksalt_sites(cell_A, framework_positions_A: np.ndarray,
                       n_cells: int | None = None) -> RockSaltSites:
    """Fit the rock-salt site lattice to the F sublattice of one frame.

    Parameters
    ----------
    cell_A : (3, 3) cubic cell, A
    framework_positions_A : (n_F, 3) F positions of one frame, A
    n_cells : cells per edge (default from n_F = 4 n_cells^3)

    Raises
    ------
    ValueError
        if the cell is not cubic or the F atoms are not on a rock-salt sublattice.
    """
    cell = np.asarray(cell_A, dtype=float)
    L = np.diag(cell)
    if np.abs(cell - np.diag(L)).max() > 1e-6 or np.ptp(L) > 1e-3 * L.max():
        raise ValueError(f"hop analysis needs a cubic cell, got {cell.tolist()}")
    xf = np.asarray(framework_positions_A, dtype=float)
    if n_cells is None:
        n_cells = round((xf.shape[0] / 4) ** (1 / 3))
        if 4 * n_cells ** 3 != xf.shape[0]:
            raise ValueError(f"{xf.shape[0]} F atoms is not 4 n^3; pass n_cells")
    a = float(L[0]) / n_cells
    half = a / 2
    o = xf[0] - np.array([half, 0.0, 0.0])  # F atom 0 on the odd-sum point (1, 0, 0)
    u = (xf - o) / half
    f = np.rint(u)
    if np.any(f.sum(axis=1) % 2 == 0) or np.abs(u - f).max() > 0.35:
        raise ValueError("F atoms are not on a rock-salt sublattice of the given cell "
                         f"(a = {a:.3f} A, n_cells = {n_cells}); check n_cells and that the "
                         "structure is rock salt")
    o = o + (u - f).mean(axis=0) * half
    return RockSaltSites(a_A=a, n_cells=int(n_cells), origin_A=o)


def assign_sites(positions_A, sites: RockSaltSites, atoms: np.ndarray, r_core_A: float,
                 origin_shift_A: np.ndarray | None = None, chunk_frames: int = 2048
                 ) -> np.ndarray:
    """Raw site codes (n_frames, n_atoms_selected), -1 in no core; streamed over frames."""
    n = positions_A.shape[0]
    out = np.empty((n, len(atoms)), dtype=np.int64)
    for s in range(0, n, chunk_frames):
        blk = np.asarray(positions_A[s:s + chunk_frames])[:, atoms, :]
        o = sites.origin_A if origin_shift_A is None else \
            sites.origin_A + origin_shift_A[s:s + chunk_frames, None, :]
        out[s:s + blk.shape[0]] = sites.classify(blk, r_core_A, origin_A=o)
    return out


def _confirmed_runs(raw: np.ndarray, min_frames: int) -> list[tuple[int, int, int]]:
    """Hysteresis filter of one atom's codes: [(state, first_frame, last_frame), ...].

    Transit frames (-1) are ignored; a run of one state counts when it has >= min_frames
    in-core frames, shorter runs are dropped, then equal neighbours merge.
    """
    idx = np.flatnonzero(raw != TRANSIT)
    if idx.size == 0:
        return []
    vals = raw[idx]
    brk = np.flatnonzero(np.diff(vals) != 0) + 1
    starts = np.concatenate([[0], brk])
    ends = np.concatenate([brk, [vals.size]])
    runs = []
    for a, b in zip(starts, ends):
        if b - a >= min_frames:
            st = int(vals[a])
            if runs and runs[-1][0] == st:
                runs[-1] = (st, runs[-1][1], int(idx[b - 1]))
            else:
                runs.append((st, int(idx[a]), int(idx[b - 1])))
    if not runs:  # never settled: take the most frequent state
        st = int(np.bincount(vals - vals.min()).argmax() + vals.min())
        runs = [(st, int(idx[0]), int(idx[-1]))]
    return runs


def knockoff_sum_sq_jump_A2(a_A: float = LIF_LATTICE_CONSTANT_A) -> float:
    """Sum of squared atom jumps of one knock-off in rock salt, 2 (a sqrt(3)/4)^2, A^2."""
    return 2 * (a_A * math.sqrt(3) / 4) ** 2


# --------------------------------------------------------------------------------------
# Events
# --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class HopEvent:
    """One detected event.

    Attributes
    ----------
    kind : ``knockoff``, ``direct``, ``lattice_hop``, ``frenkel`` or ``recombination``
    frame : first frame with every moving atom in its new site's core
    frame_left : last frame before the event with the first-moving atom in its old core
    time_ps : time of ``frame`` from the start of the analysed frames, ps
    atoms : trajectory atom indices that moved (knock-off: incoming, outgoing)
    sites_from, sites_to : their site codes before and after
    lattice_site : the lattice site exchanged in a knock-off (else -1)
    defect_jump_A : interstitial displacement vector of a knock-off/direct event, A
    sum_sq_jump_A2 : sum over moving atoms of |site-to-site jump|^2, A^2
    """

    kind: str
    frame: int
    frame_left: int
    time_ps: float
    atoms: tuple
    sites_from: tuple
    sites_to: tuple
    lattice_site: int
    defect_jump_A: tuple
    sum_sq_jump_A2: float


@dataclass(frozen=True, eq=False)
class HopAnalysis:
    """Hop events of one trajectory and the event-based diffusion coefficients.

    Attributes
    ----------
    events : detected events in time order
    counts : events per kind
    duration_ps : analysed duration, ps
    D_event_sum_cm2_s, D_event_sum_err_cm2_s : sum over all site changes of
        |jump|^2 / (6 T) (cm^2/s) and its Poisson error (D / sqrt(number of jumps))
    D_event_defect_cm2_s, D_event_defect_err_cm2_s : sum over knock-off and direct events
        of |defect jump|^2 / (6 T) and its Poisson error
    n_interstitial : (n_frames,) Li on tetrahedral sites at each frame (after hysteresis)
    sites : the fitted lattice
    r_core_A, min_residence_ps, pair_window_ps : detection settings
    timestep_ps : time between analysed frames, ps
    """

    events: tuple
    counts: dict
    duration_ps: float
    D_event_sum_cm2_s: float
    D_event_sum_err_cm2_s: float
    D_event_defect_cm2_s: float
    D_event_defect_err_cm2_s: float
    n_interstitial: np.ndarray
    sites: RockSaltSites
    r_core_A: float
    min_residence_ps: float
    pair_window_ps: float
    timestep_ps: float
    info: dict = field(default_factory=dict)

    @property
    def n_knockoff(self) -> int:
        return self.counts.get("knockoff", 0)

    @property
    def n_direct(self) -> int:
        return self.counts.get("direct", 0)

    @property
    def knockoff_rate_per_ps(self) -> float:
        return self.n_knockoff / self.duration_ps if self.duration_ps > 0 else float("nan")

    def of_kind(self, kind: str) -> list[HopEvent]:
        return [e for e in self.events if e.kind == kind]

    def to_dataframe(self):
        """Events as a pandas DataFrame (units in column names)."""
        import pandas as pd

        return pd.DataFrame([{
            "kind": e.kind, "frame": e.frame, "time_ps": e.time_ps,
            "atoms": " ".join(map(str, e.atoms)), "lattice_site": e.lattice_site,
            "defect_jump_A": float(np.linalg.norm(e.defect_jump_A)),
            "sum_sq_jump_A2": e.sum_sq_jump_A2} for e in self.events],
            columns=["kind", "frame", "time_ps", "atoms", "lattice_site", "defect_jump_A",
                     "sum_sq_jump_A2"])


def detect_hops(trajectory, *, species: str = "Li", n_cells: int | None = None,
                r_core_A: float | None = None, min_residence_ps: float = 0.5,
                pair_window_ps: float = 1.0, frame_stride: int = 1,
                timestep_ps: float | None = None) -> HopAnalysis:
    """Detect knock-off, direct-interstitial and other Li hops in a rock-salt trajectory.

    Parameters
    ----------
    trajectory : anything :func:`lidiff_helpers.analysis.diffusion.load_trajectory` accepts, with
        atomic numbers and a cubic cell (the framework species F must be present).
    species : the hopping element (Li); every other atom is the framework.
    n_cells : conventional cells per edge (default from the number of F atoms).
    r_core_A : core radius of a site, A (default 0.4 x a*sqrt(3)/4).
    min_residence_ps : a new site counts after this much in-core time, ps.
    pair_window_ps : largest time between the two halves of a knock-off, ps.
    frame_stride : analyse every ``frame_stride``-th frame.
    timestep_ps : for array inputs.

    Returns
    -------
    HopAnalysis

    Raises
    ------
    WrappedTrajectoryError
        for wrapped coordinates.
    """
    from lidiff_helpers.analysis.diffusion import _species_number

    traj = load_trajectory(trajectory, timestep_ps=timestep_ps)
    pos = traj.positions_A[::frame_stride] if frame_stride > 1 else traj.positions_A
    dt = traj.timestep_ps * frame_stride
    nums = np.asarray(traj.numbers)
    mobile = np.flatnonzero(nums == _species_number(species))
    frame = np.flatnonzero(nums != _species_number(species))
    if mobile.size == 0 or frame.size == 0:
        raise ValueError("hop analysis needs both the mobile species and the framework")
    fp = _frame_pass(pos, frame)
    check_unwrapped(pos, traj.cell_A, _pass=fp)
    drift = fp[0] - fp[0][0]
    sites = fit_rocksalt_sites(traj.cell_A, np.asarray(pos[0])[frame], n_cells=n_cells)
    r_core = 0.4 * sites.lattice_tet_distance_A if r_core_A is None else float(r_core_A)
    raw = assign_sites(pos, sites, mobile, r_core, origin_shift_A=drift)
    min_frames = max(1, math.ceil(min_residence_ps / dt - 1e-9))
    n = raw.shape[0]

    trans = []  # (frame, frame_left, atom, from, to)
    n_int = np.zeros(n, dtype=np.int64)
    first = raw[0]
    changing = np.flatnonzero(np.any((raw != first) & (raw != TRANSIT), axis=0)
                              | (first == TRANSIT))
    static = np.setdiff1d(np.arange(raw.shape[1]), changing)
    n_int += int(np.sum(sites.is_tet(first[static])))
    for j in changing:
        runs = _confirmed_runs(raw[:, j], min_frames)
        if not runs:
            continue
        st0 = runs[0][0]
        tet_now = bool(sites.is_tet(st0))
        if tet_now:
            n_int[:] += 1
        for (s_prev, _, last_prev), (s_new, first_new, _) in itertools.pairwise(runs):
            trans.append((first_new, last_prev, int(mobile[j]), s_prev, s_new))
            d = int(sites.is_tet(s_new)) - int(sites.is_tet(s_prev))
            if d:
                n_int[first_new:] += d
    trans.sort()
    window = round(pair_window_ps / dt)
    used = [False] * len(trans)
    events: list[HopEvent] = []
    leaving: dict[int, list[int]] = {}  # lattice site -> transitions lattice -> tet out of it
    for k, (_, _, _, s_from, s_to) in enumerate(trans):
        if not sites.is_tet(s_from) and sites.is_tet(s_to):
            leaving.setdefault(int(s_from), []).append(k)
    # knock-offs: tet -> L paired with L -> tet of another atom, closest in time
    for i, (f, fl, atom, s_from, s_to) in enumerate(trans):
        if used[i] or not (sites.is_tet(s_from) and not sites.is_tet(s_to)):
            continue
        cands = [k for k in leaving.get(int(s_to), ())
                 if not used[k] and trans[k][2] != atom and abs(trans[k][0] - f) <= window]
        if not cands:
            continue
        best = min(cands, key=lambda k: abs(trans[k][0] - f))
        used[i] = used[best] = True
        f2, fl2, atom2, _, s2_to = trans[best]
        jin = sites.jump_A(s_from, s_to)
        jout = sites.jump_A(s_to, s2_to)
        events.append(HopEvent(kind="knockoff", frame=max(f, f2), frame_left=min(fl, fl2),
                               time_ps=max(f, f2) * dt, atoms=(atom, atom2),
                               sites_from=(s_from, s_to), sites_to=(s_to, s2_to),
                               lattice_site=int(s_to), defect_jump_A=tuple(jin + jout),
                               sum_sq_jump_A2=float(jin @ jin + jout @ jout)))
    for i, (f, fl, atom, s_from, s_to) in enumerate(trans):
        if used[i]:
            continue
        ti, to = bool(sites.is_tet(s_from)), bool(sites.is_tet(s_to))
        kind = {(True, True): "direct", (False, False): "lattice_hop",
                (False, True): "frenkel", (True, False): "recombination"}[(ti, to)]
        j = sites.jump_A(s_from, s_to)
        events.append(HopEvent(kind=kind, frame=f, frame_left=fl, time_ps=f * dt,
                               atoms=(atom,), sites_from=(s_from,), sites_to=(s_to,),
                               lattice_site=-1,
                               defect_jump_A=tuple(j) if kind == "direct" else (0.0, 0.0, 0.0),
                               sum_sq_jump_A2=float(j @ j)))
    events.sort(key=lambda e: (e.frame, e.kind))
    duration = (n - 1) * dt
    counts = {k: 0 for k in ("knockoff", "direct", "lattice_hop", "frenkel", "recombination")}
    for e in events:
        counts[e.kind] += 1
    sum_sq = sum(e.sum_sq_jump_A2 for e in events)
    n_jumps = sum(len(e.atoms) for e in events)
    defect = [e for e in events if e.kind in ("knockoff", "direct")]
    def_sq = sum(float(np.dot(e.defect_jump_A, e.defect_jump_A)) for e in defect)

    def to_D(sq):
        return sq / (2 * DIMENSIONS * duration) * CM2_S_PER_A2_PS if duration > 0 else float("nan")

    D_sum, D_def = to_D(sum_sq), to_D(def_sq)
    return HopAnalysis(
        events=tuple(events), counts=counts, duration_ps=duration, D_event_sum_cm2_s=D_sum,
        D_event_sum_err_cm2_s=D_sum / math.sqrt(n_jumps) if n_jumps else float("nan"),
        D_event_defect_cm2_s=D_def,
        D_event_defect_err_cm2_s=D_def / math.sqrt(len(defect)) if defect else float("nan"),
        n_interstitial=n_int, sites=sites, r_core_A=r_core, min_residence_ps=min_residence_ps,
        pair_window_ps=pair_window_ps, timestep_ps=dt, info=dict(traj.info))


# --------------------------------------------------------------------------------------
# Synthetic trajectories with a known D
# --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SyntheticEvent:
    """One scripted/sampled event: start time, kind and the (atom, from, to) site moves."""

    time_ps: float
    kind: str
    moves: tuple  # ((atom, site_from, site_to), ...)


@dataclass(frozen=True, eq=False)
class SyntheticRun:
    """A synthetic interstitial-Li trajectory in rock-salt LiF with a known D.

    The defect moves by knock-off (the interstitial takes one of the 4 Li sites of its
    tetrahedral site, uniformly; that Li goes to one of the 8 tetrahedral sites around its
    lattice site, uniformly) or by direct hops to one of the 6 neighbouring tetrahedral
    sites. Every atom's successive jumps are then uncorrelated with zero mean, so the
    ``defect`` convention (sum over Li of the MSD) grows exactly as 6 D t on average with
    ``D_defect_cm2_s`` = rate x <sum of squared atom jumps> / 6, and the Haven ratio is 1.
    Events are a renewal process: a dead time (``transit_ps`` + ``min_gap_ps``) plus an
    exponential wait, with the mean interval set so the event rate is the target.
    Thermal vibration: independent Gaussian displacements per frame (not a real phonon
    spectrum). With ``momentum_conserving`` every atom recoils by -m_Li dr / M per event,
    as in momentum-conserving MD.

    Attributes
    ----------
    temperature_K, D_defect_cm2_s : temperature and the known defect-convention D
    numbers, cell_A : atoms (Li lattice, F, then the interstitial Li) and cubic cell
    timestep_ps, n_frames : frame interval and count
    events : the sampled events
    sites : the lattice geometry (origin at 0)
    """

    temperature_K: float
    D_defect_cm2_s: float
    numbers: np.ndarray
    cell_A: np.ndarray
    timestep_ps: float
    n_frames: int
    events: tuple
    sites: RockSaltSites
    transit_ps: float
    vibration_A: dict
    momentum_conserving: bool
    seed: int
    _initial_A: np.ndarray = field(repr=False)

    @property
    def counts(self) -> dict:
        out: dict = {}
        for e in self.events:
            out[e.kind] = out.get(e.kind, 0) + 1
        return out

    def iter_frames(self, chunk_frames: int = 1000) -> Iterator[np.ndarray]:
        """Positions (chunk, n_atoms, 3) float32 in A, chunk by chunk, deterministic."""
        rng = np.random.default_rng([self.seed, 1])
        nat = self.numbers.size
        sigma = np.where(self.numbers == 3, self.vibration_A[3], self.vibration_A[9])[None, :, None]
        masses = np.array([_MASS[int(z)] for z in self.numbers])
        M = masses.sum()
        ev_t = np.array([e.time_ps for e in self.events])
        disp = []  # per event: (atoms, jump vectors), recoil vector
        for e in self.events:
            atoms = np.array([m[0] for m in e.moves])
            jumps = np.array([self.sites.jump_A(m[1], m[2]) for m in e.moves])
            recoil = (-(masses[atoms, None] * jumps).sum(axis=0) / M
                      if self.momentum_conserving else np.zeros(3))
            disp.append((atoms, jumps, recoil))
        base = self._initial_A.astype(np.float64).copy()
        done = 0
        for s in range(0, self.n_frames, chunk_frames):
            t = np.arange(s, min(s + chunk_frames, self.n_frames)) * self.timestep_ps
            while done < len(self.events) and ev_t[done] + self.transit_ps <= t[0]:
                atoms, jumps, recoil = disp[done]
                base[atoms] += jumps
                base += recoil
                done += 1
            # events in this chunk: full moves as steps (cumulated below), partial moves
            # on the few transit frames added directly
            step = np.zeros((t.size, nat, 3))
            rstep = np.zeros((t.size, 3))
            extra = np.zeros((t.size, nat, 3))
            k = done
            while k < len(self.events) and ev_t[k] < t[-1]:
                atoms, jumps, recoil = disp[k]
                t_end = ev_t[k] + self.transit_ps
                i_end = int(np.searchsorted(t, t_end - 1e-12, side="left"))
                if i_end < t.size:
                    step[i_end, atoms] += jumps
                    rstep[i_end] += recoil
                i_start = int(np.searchsorted(t, ev_t[k], side="right"))
                for i in range(i_start, min(i_end, t.size)):
                    frac = (t[i] - ev_t[k]) / self.transit_ps
                    extra[i, atoms] += frac * jumps
                    extra[i] += frac * recoil
                k += 1
            x = base[None] + np.cumsum(step, axis=0) + np.cumsum(rstep, axis=0)[:, None, :] \
                + extra
            x += rng.normal(size=x.shape) * sigma
            yield x.astype(np.float32)

    def positions_A(self) -> np.ndarray:
        """All frames in memory, (n_frames, n_atoms, 3) float32, A."""
        return np.concatenate(list(self.iter_frames()))

    def write(self, path: str | os.PathLike, info: dict | None = None):
        """Write as a lidiff trajectory directory (replaced if present); returns it opened."""
        import shutil

        from lidiff_helpers.io.trajectory import TrajectoryWriter, open_trajectory

        if os.path.isdir(path):
            shutil.rmtree(path)
        meta = {"synthetic": True, "temperature_K": self.temperature_K,
                "D_defect_true_cm2_s": self.D_defect_cm2_s, "seed": self.seed,
                "n_events": len(self.events), "counts": self.counts, **(info or {})}
        with TrajectoryWriter(path, self.numbers, self.cell_A, self.timestep_ps,
                              info=meta) as w:
            f = 0
            for chunk in self.iter_frames():
                for x in chunk:
                    w.append(x, f * self.timestep_ps)
                    f += 1
        return open_trajectory(path)


def synthetic_interstitial_run(temperature_K: float, D_defect_cm2_s: float, *,
                               duration_ps: float, timestep_ps: float = 0.1, n_cells: int = 3,
                               a_A: float = LIF_LATTICE_CONSTANT_A,
                               knockoff_fraction: float = 0.8, transit_ps: float = 0.2,
                               min_gap_ps: float = 1.0, vibration_A: dict | None = None,
                               momentum_conserving: bool = True, seed: int = 0,
                               scripted_events: Sequence[tuple[float, str]] | None = None
                               ) -> SyntheticRun:
    """A seeded synthetic trajectory of one interstitial Li in LiF with known D.

    Parameters
    ----------
    temperature_K : sets the vibration amplitude (and is recorded)
    D_defect_cm2_s : target D in the ``defect`` convention (sum over Li of MSD / 6t)
    duration_ps, timestep_ps : run length and frame interval, ps
    n_cells : conventional cells per edge (the study: 5, 1001 atoms; 3 gives 217)
    a_A : lattice constant, A
    knockoff_fraction : fraction of events that are knock-offs (rest: direct hops)
    transit_ps : duration of the straight-line move between sites, ps
    min_gap_ps : least time between the end of one event and the next start, ps (so
        events can be resolved by :func:`detect_hops` with ``min_residence_ps`` below it)
    vibration_A : per-axis Gaussian amplitude at 300 K by atomic number (default Li 0.107,
        F 0.09 A, roughly LiF's Debye-Waller factors), scaled by sqrt(T / 300 K)
    momentum_conserving : apply the recoil -m_Li dr / M to all atoms
    seed : random seed
    scripted_events : optional ``[(time_ps, "knockoff" | "direct"), ...]`` instead of
        sampled event times (sites still chosen at random)

    Returns
    -------
    SyntheticRun
    """
    rng = np.random.default_rng([seed, 0])
    sites = RockSaltSites(a_A=float(a_A), n_cells=int(n_cells), origin_A=np.zeros(3))
    m = 2 * n_cells
    grid = np.stack(np.meshgrid(*[np.arange(m)] * 3, indexing="ij"), axis=-1).reshape(-1, 3)
    li = grid[grid.sum(axis=1) % 2 == 0]
    fl = grid[grid.sum(axis=1) % 2 == 1]
    t0 = rng.integers(0, m, size=3)
    half = a_A / 2
    initial = np.concatenate([li, fl, (t0 + 0.5)[None]]) * half
    numbers = np.array([3] * len(li) + [9] * len(fl) + [3])
    n_atoms = numbers.size
    interstitial = n_atoms - 1
    occupant = {int(c): i for i, c in enumerate(sites._code(li.astype(float), False))}
    tet_code = int(sites._code(t0.astype(float)[None], True)[0])

    sq_ko = 2 * (sites.lattice_tet_distance_A ** 2)
    sq_direct = half ** 2
    mean_sq = knockoff_fraction * sq_ko + (1 - knockoff_fraction) * sq_direct
    D_A2_ps = D_defect_cm2_s / CM2_S_PER_A2_PS
    rate = 2 * DIMENSIONS * D_A2_ps / mean_sq if D_A2_ps > 0 else 0.0
    dead = transit_ps + min_gap_ps
    if scripted_events is None:
        times, kinds = [], []
        if rate > 0:
            if 1 / rate <= dead:
                raise ValueError(f"target D {D_defect_cm2_s:g} cm^2/s needs an event every "
                                 f"{1 / rate:.3g} ps, shorter than the dead time {dead:g} ps; "
                                 "lower min_gap_ps/transit_ps")
            t = 0.0
            while True:
                t += dead + rng.exponential(1 / rate - dead)
                if t + transit_ps > duration_ps:
                    break
                times.append(t)
                kinds.append("knockoff" if rng.random() < knockoff_fraction else "direct")
    else:
        times = [float(t) for t, _ in scripted_events]
        kinds = [str(k) for _, k in scripted_events]
    corners = np.array([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)])
    axes = np.concatenate([np.eye(3, dtype=int), -np.eye(3, dtype=int)])
    events = []
    for t, kind in zip(times, kinds):
        q = sites.half_coords(tet_code) - 0.5  # floor coordinates of the current tet site
        if kind == "knockoff":
            cand = q + corners
            lat = cand[cand.sum(axis=1) % 2 == 0]
            L = lat[rng.integers(len(lat))]
            Lc = int(sites._code(L[None], False)[0])
            b = occupant[Lc]
            new_q = L - 1 + corners[rng.integers(8)]
            new_tet = int(sites._code(new_q[None], True)[0])
            moves = ((interstitial, tet_code, Lc), (b, Lc, new_tet))
            occupant[Lc] = interstitial
            interstitial, tet_code = b, new_tet
        elif kind == "direct":
            new_q = q + axes[rng.integers(6)]
            new_tet = int(sites._code(new_q[None], True)[0])
            moves = ((interstitial, tet_code, new_tet),)
            tet_code = new_tet
        else:
            raise ValueError(f"unknown scripted event kind {kind!r}")
        events.append(SyntheticEvent(time_ps=float(t), kind=kind, moves=moves))
    vib = {3: 0.107, 9: 0.09} if vibration_A is None else dict(vibration_A)
    scale = math.sqrt(temperature_K / 300.0)
    n_frames = round(duration_ps / timestep_ps) + 1
    L = a_A * n_cells
    return SyntheticRun(temperature_K=float(temperature_K), D_defect_cm2_s=float(D_defect_cm2_s),
                        numbers=numbers, cell_A=np.eye(3) * L, timestep_ps=float(timestep_ps),
                        n_frames=n_frames, events=tuple(events), sites=sites,
                        transit_ps=float(transit_ps),
                        vibration_A={k: v * scale for k, v in vib.items()},
                        momentum_conserving=bool(momentum_conserving), seed=int(seed),
                        _initial_A=initial)


def write_synthetic_runs(out_dir: str | os.PathLike, temperatures_K: Sequence[float], *,
                         Ea_eV: float, D0_cm2_s: float, n_replicas: int, duration_ps: float,
                         timestep_ps: float = 0.1, n_cells: int = 3, seed: int = 0,
                         model: str = "synthetic", purpose: str = "arrhenius",
                         **kwargs) -> list[dict]:
    """Synthetic runs with D_defect(T) = D0 exp(-Ea / k_B T), written as trajectories.

    One :func:`synthetic_interstitial_run` per (temperature, replica), seeded from
    ``(seed, T, replica)``, written to ``out_dir/<model>_<T>K_r<replica>``; an existing
    run with identical settings is reused. Returns manifest-like entries (the format of
    the MD notebook's manifest) with ``synthetic: True``.

    Parameters
    ----------
    out_dir : folder for the trajectories
    temperatures_K : temperatures, K
    Ea_eV, D0_cm2_s : the Arrhenius law of the known D (defect convention)
    n_replicas : independent runs per temperature
    duration_ps, timestep_ps, n_cells : per run (see :func:`synthetic_interstitial_run`)
    seed : master seed
    model, purpose : labels written into the entries
    kwargs : further arguments of :func:`synthetic_interstitial_run`
    """
    import json

    from lidiff_helpers.analysis.arrhenius import arrhenius_D_cm2_s
    from lidiff_helpers.io.trajectory import is_trajectory

    out = []
    for T in temperatures_K:
        for r in range(int(n_replicas)):
            run_seed = int(np.random.SeedSequence([int(seed), round(T * 1000), r])
                           .generate_state(1)[0])
            D = arrhenius_D_cm2_s(T, Ea_eV, D0_cm2_s)
            settings = {"temperature_K": float(T), "D_defect_true_cm2_s": D,
                        "duration_ps": float(duration_ps), "timestep_ps": float(timestep_ps),
                        "n_cells": int(n_cells), "seed": run_seed, "Ea_eV": float(Ea_eV),
                        "D0_cm2_s": float(D0_cm2_s),
                        **{k: v for k, v in sorted(kwargs.items())}}
            path = os.path.join(os.fspath(out_dir), f"{model}_{T:g}K_r{r}")
            meta_ok = False
            if is_trajectory(path):
                try:
                    with open(os.path.join(path, "meta.json")) as f:
                        meta_ok = json.load(f)["info"].get("settings") == \
                            json.loads(json.dumps(settings))
                except (OSError, KeyError, ValueError):
                    meta_ok = False
            if not meta_ok:
                run = synthetic_interstitial_run(T, D, duration_ps=duration_ps,
                                                 timestep_ps=timestep_ps, n_cells=n_cells,
                                                 seed=run_seed, **kwargs)
                run.write(path, info={"model": model, "settings": settings})
            out.append({"model": model, "temperature_K": float(T), "replica": r,
                        "trajectory": path, "status": "done", "purpose": purpose,
                        "synthetic": True, "D_defect_true_cm2_s": D})
    return out
