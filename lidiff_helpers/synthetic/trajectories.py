"""Synthetic trajectories of an interstitial Li in rock-salt LiF with a known D.

Test data, not analysis: the tests of :mod:`lidiff_helpers.analysis.diffusion` and
:mod:`lidiff_helpers.analysis.hops`, ``benchmarks/bench_msd.py``, and notebook 05 when no
MD trajectories exist use these runs, whose diffusion coefficient is known by
construction. The mechanism (knock-off and direct interstitial hops between the site
lattice of :class:`lidiff_helpers.analysis.hops.RockSaltSites`) is described in
:class:`SyntheticRun`. Lattice constant by default the study's cell
(:data:`lidiff_helpers.core.units.LIF_A_STUDY_A`). Frame intervals are
``frame_interval_ps`` (``timestep_ps`` is a deprecated alias).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from lidiff_helpers.analysis.arrhenius import arrhenius_D_cm2_s
from lidiff_helpers.analysis.hops import RockSaltSites
from lidiff_helpers.core.deprecation import deprecated_attribute, renamed_keyword
from lidiff_helpers.core.errors import ParameterError
from lidiff_helpers.core.units import CM2_S_PER_A2_PS, DIMENSIONS, LIF_A_STUDY_A
from lidiff_helpers.io.trajectory import TrajectoryWriter, is_trajectory, open_trajectory

__all__ = [
    "SyntheticEvent",
    "SyntheticRun",
    "synthetic_interstitial_run",
    "write_synthetic_runs",
]

_MASS = {3: 6.94, 9: 18.998}  # amu, Li and F (for the synthetic recoil)


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
    frame_interval_ps, n_frames : frame interval (ps) and count
    events : the sampled events
    sites : the lattice geometry (origin at 0)
    """

    temperature_K: float
    D_defect_cm2_s: float
    numbers: np.ndarray
    cell_A: np.ndarray
    frame_interval_ps: float
    n_frames: int
    events: tuple
    sites: RockSaltSites
    transit_ps: float
    vibration_A: dict
    momentum_conserving: bool
    seed: int
    _initial_A: np.ndarray = field(repr=False)

    timestep_ps = deprecated_attribute("timestep_ps", "frame_interval_ps")

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
            t = np.arange(s, min(s + chunk_frames, self.n_frames)) * self.frame_interval_ps
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

        if os.path.isdir(path):
            shutil.rmtree(path)
        meta = {"synthetic": True, "temperature_K": self.temperature_K,
                "D_defect_true_cm2_s": self.D_defect_cm2_s, "seed": self.seed,
                "n_events": len(self.events), "counts": self.counts, **(info or {})}
        with TrajectoryWriter(path, self.numbers, self.cell_A, self.frame_interval_ps,
                              info=meta) as w:
            f = 0
            for chunk in self.iter_frames():
                for x in chunk:
                    w.append(x, f * self.frame_interval_ps)
                    f += 1
        return open_trajectory(path)


def _event_times(rng, rate: float, dead: float, duration_ps: float, transit_ps: float,
                 knockoff_fraction: float, D_defect_cm2_s: float) -> tuple[list, list]:
    """Renewal process: dead time plus an exponential wait, mean interval 1 / rate."""
    times, kinds = [], []
    if rate <= 0:
        return times, kinds
    if 1 / rate <= dead:
        raise ParameterError(f"target D {D_defect_cm2_s:g} cm^2/s needs an event every "
                             f"{1 / rate:.3g} ps, shorter than the dead time {dead:g} ps; "
                             "lower min_gap_ps/transit_ps")
    t = 0.0
    while True:
        t += dead + rng.exponential(1 / rate - dead)
        if t + transit_ps > duration_ps:
            return times, kinds
        times.append(t)
        kinds.append("knockoff" if rng.random() < knockoff_fraction else "direct")


_CORNERS = np.array([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)])
_AXES = np.concatenate([np.eye(3, dtype=int), -np.eye(3, dtype=int)])


def _site_moves(rng, sites: RockSaltSites, times, kinds, occupant: dict, interstitial: int,
                tet_code: int) -> list[SyntheticEvent]:
    """Choose the sites of each event: knock-off into one of 4 lattice sites, direct to 6."""
    events = []
    for t, kind in zip(times, kinds):
        q = sites.half_coords(tet_code) - 0.5  # floor coordinates of the current tet site
        if kind == "knockoff":
            cand = q + _CORNERS
            lat = cand[cand.sum(axis=1) % 2 == 0]
            L = lat[rng.integers(len(lat))]
            Lc = int(sites._code(L[None], False)[0])
            b = occupant[Lc]
            new_tet = int(sites._code((L - 1 + _CORNERS[rng.integers(8)])[None], True)[0])
            moves = ((interstitial, tet_code, Lc), (b, Lc, new_tet))
            occupant[Lc] = interstitial
            interstitial, tet_code = b, new_tet
        elif kind == "direct":
            new_tet = int(sites._code((q + _AXES[rng.integers(6)])[None], True)[0])
            moves = ((interstitial, tet_code, new_tet),)
            tet_code = new_tet
        else:
            raise ParameterError(f"unknown scripted event kind {kind!r} (knockoff or direct)")
        events.append(SyntheticEvent(time_ps=float(t), kind=kind, moves=moves))
    return events


@renamed_keyword("timestep_ps", "frame_interval_ps")
def synthetic_interstitial_run(temperature_K: float, D_defect_cm2_s: float, *,
                               duration_ps: float, frame_interval_ps: float = 0.1,
                               n_cells: int = 3, a_A: float = LIF_A_STUDY_A,
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
    duration_ps, frame_interval_ps : run length and frame interval, ps (old keyword
        ``timestep_ps``, deprecated)
    n_cells : conventional cells per edge (the study: 5, 1001 atoms; 3 gives 217)
    a_A : lattice constant, A (default the study's cell)
    knockoff_fraction : fraction of events that are knock-offs (rest: direct hops)
    transit_ps : duration of the straight-line move between sites, ps
    min_gap_ps : least time between the end of one event and the next start, ps (so
        events can be resolved by :func:`~lidiff_helpers.analysis.hops.detect_hops` with
        ``min_residence_ps`` below it)
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
    mean_sq = (knockoff_fraction * 2 * sites.lattice_tet_distance_A ** 2
               + (1 - knockoff_fraction) * half ** 2)
    D_A2_ps = D_defect_cm2_s / CM2_S_PER_A2_PS
    rate = 2 * DIMENSIONS * D_A2_ps / mean_sq if D_A2_ps > 0 else 0.0
    if scripted_events is None:
        times, kinds = _event_times(rng, rate, transit_ps + min_gap_ps, duration_ps,
                                    transit_ps, knockoff_fraction, D_defect_cm2_s)
    else:
        times = [float(t) for t, _ in scripted_events]
        kinds = [str(k) for _, k in scripted_events]
    occupant = {int(c): i for i, c in enumerate(sites._code(li.astype(float), False))}
    events = _site_moves(rng, sites, times, kinds, occupant, numbers.size - 1,
                         int(sites._code(t0.astype(float)[None], True)[0]))
    vib = {3: 0.107, 9: 0.09} if vibration_A is None else dict(vibration_A)
    scale = math.sqrt(temperature_K / 300.0)
    return SyntheticRun(temperature_K=float(temperature_K), D_defect_cm2_s=float(D_defect_cm2_s),
                        numbers=numbers, cell_A=np.eye(3) * (a_A * n_cells),
                        frame_interval_ps=float(frame_interval_ps),
                        n_frames=round(duration_ps / frame_interval_ps) + 1,
                        events=tuple(events), sites=sites, transit_ps=float(transit_ps),
                        vibration_A={k: v * scale for k, v in vib.items()},
                        momentum_conserving=bool(momentum_conserving), seed=int(seed),
                        _initial_A=initial)


@renamed_keyword("timestep_ps", "frame_interval_ps")
def write_synthetic_runs(out_dir: str | os.PathLike, temperatures_K: Sequence[float], *,
                         Ea_eV: float, D0_cm2_s: float, n_replicas: int, duration_ps: float,
                         frame_interval_ps: float = 0.1, n_cells: int = 3, seed: int = 0,
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
    duration_ps, frame_interval_ps, n_cells : per run, see
        :func:`synthetic_interstitial_run` (old keyword ``timestep_ps``, deprecated)
    seed : master seed
    model, purpose : labels written into the entries
    kwargs : further arguments of :func:`synthetic_interstitial_run`
    """
    out = []
    for T in temperatures_K:
        for r in range(int(n_replicas)):
            run_seed = int(np.random.SeedSequence([int(seed), round(T * 1000), r])
                           .generate_state(1)[0])
            D = arrhenius_D_cm2_s(T, Ea_eV, D0_cm2_s)
            settings = {"temperature_K": float(T), "D_defect_true_cm2_s": D,
                        "duration_ps": float(duration_ps),
                        "frame_interval_ps": float(frame_interval_ps), "n_cells": int(n_cells),
                        "a_A": float(kwargs.get("a_A", LIF_A_STUDY_A)), "seed": run_seed,
                        "Ea_eV": float(Ea_eV), "D0_cm2_s": float(D0_cm2_s),
                        **{k: v for k, v in sorted(kwargs.items())}}
            path = os.path.join(os.fspath(out_dir), f"{model}_{T:g}K_r{r}")
            if not _cached(path, settings):
                run = synthetic_interstitial_run(T, D, duration_ps=duration_ps,
                                                 frame_interval_ps=frame_interval_ps,
                                                 n_cells=n_cells, seed=run_seed, **kwargs)
                run.write(path, info={"model": model, "settings": settings})
            out.append({"model": model, "temperature_K": float(T), "replica": r,
                        "trajectory": path, "status": "done", "purpose": purpose,
                        "synthetic": True, "D_defect_true_cm2_s": D})
    return out


def _cached(path: str, settings: dict) -> bool:
    """Whether ``path`` holds a synthetic run written with exactly ``settings``."""
    if not is_trajectory(path):
        return False
    try:
        with open(os.path.join(path, "meta.json")) as f:
            return json.load(f)["info"].get("settings") == json.loads(json.dumps(settings))
    except (OSError, KeyError, ValueError):
        return False
