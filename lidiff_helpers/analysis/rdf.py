"""Partial radial distribution functions of LiF and their first-peak positions.

For species A and B in a periodic cell of volume V, averaged over frames,

    g_AB(r) = V / (N_A N_B') < n_AB(r, r + dr) > / (4 pi / 3 [(r + dr)^3 - r^3])

where ``n_AB`` counts ordered pairs (i in A, j in B, j != i, all periodic images) at a
distance in the shell and ``N_B' = N_B - 1`` when A = B (no self pairs). ``g -> 1`` at
large r for an uncorrelated arrangement.

In perfect rock salt of edge ``a`` the first Li-F shell is at ``a/2`` (6 neighbours) and
the first Li-Li and F-F shells are at ``a/sqrt(2)`` (12 neighbours)
(:func:`perfect_lattice_peaks`). Notebook 01 compares the first peaks of

* frames of a short NVT run at 300 K of each model
  (:func:`lidiff_helpers.simulation.nvt.nvt_rdf`: the MD lives in the simulation layer;
  this module is numpy/ASE geometry only and runs no calculator),
* the study's equilibrated 1001-atom structures (LAMMPS ``.data``, MACE-MPA-0 MD,
  :func:`lidiff_helpers.io.data.read_lammps_data`),

with those distances.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

__all__ = [
    "PAIRS",
    "RDFResult",
    "first_peak",
    "partial_rdf",
    "peak_table",
    "perfect_lattice_peaks",
    "rocksalt_a_from_cell",
    "structure_rdf",
]

#: the three partials of LiF, labelled ``"Li-F"``, ``"Li-Li"``, ``"F-F"``
PAIRS = (("Li", "F"), ("Li", "Li"), ("F", "F"))


def _label(pair: Sequence[str]) -> str:
    return f"{pair[0]}-{pair[1]}"


@dataclass(frozen=True)
class RDFResult:
    """Partial RDFs on a common grid.

    Attributes
    ----------
    r_A : bin centres, A
    g : pair label (``"Li-F"``...) -> g(r) at ``r_A`` (dimensionless)
    peaks_A : pair label -> first-peak position (A), see :func:`first_peak`
    n_frames : frames averaged
    dr_A : bin width, A
    a_A : rock-salt lattice constant of the frames (A), when known
    temperature_K : mean kinetic temperature of MD frames (K), when known
    """

    r_A: tuple
    g: dict
    peaks_A: dict
    n_frames: int
    dr_A: float
    a_A: float | None = None
    temperature_K: float | None = None

    def perfect_peaks_A(self) -> dict | None:
        """:func:`perfect_lattice_peaks` of ``a_A`` (None when the lattice is unknown)."""
        return perfect_lattice_peaks(self.a_A) if self.a_A else None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping) -> RDFResult:
        d = dict(d)
        d["r_A"] = tuple(d["r_A"])
        d["g"] = {k: tuple(v) for k, v in d["g"].items()}
        return cls(**d)


def partial_rdf(frames: Iterable, pairs: Sequence[Sequence[str]] = PAIRS, r_max_A: float = 6.0,
                dr_A: float = 0.02, a_A: float | None = None) -> RDFResult:
    """Partial RDFs averaged over ``frames`` (ASE ``Atoms``, periodic, same composition).

    Uses ``ase.neighborlist.neighbor_list``, so ``r_max_A`` may exceed half the box:
    all periodic images are counted.
    """
    from ase.neighborlist import neighbor_list

    edges = np.arange(0.0, r_max_A + 0.5 * dr_A, dr_A)
    shell = 4.0 / 3.0 * np.pi * (edges[1:] ** 3 - edges[:-1] ** 3)
    counts = {_label(p): np.zeros(edges.size - 1) for p in pairs}
    norm = {_label(p): 0.0 for p in pairs}
    n = 0
    for at in frames:
        if not np.all(at.pbc):
            raise ValueError("partial_rdf needs periodic frames (pbc = True)")
        syms = np.asarray(at.get_chemical_symbols())
        i, j, d = neighbor_list("ijd", at, float(r_max_A))
        vol = at.get_volume()
        for p in pairs:
            lab = _label(p)
            sel = (syms[i] == p[0]) & (syms[j] == p[1])
            counts[lab] += np.histogram(d[sel], bins=edges)[0]
            na, nb = int((syms == p[0]).sum()), int((syms == p[1]).sum())
            nb_eff = nb - 1 if p[0] == p[1] else nb
            if na == 0 or nb_eff <= 0:
                raise ValueError(f"partial_rdf: frame has {na} {p[0]} and {nb} {p[1]} atoms; "
                                 f"cannot form {lab} pairs")
            norm[lab] += na * nb_eff / vol  # pair density of this frame
        n += 1
    if n == 0:
        raise ValueError("partial_rdf: no frames")
    r = 0.5 * (edges[1:] + edges[:-1])
    g = {lab: counts[lab] / (norm[lab] * shell) for lab in counts}
    peaks = {lab: first_peak(r, g[lab]) for lab in g}
    return RDFResult(r_A=tuple(r.tolist()), g={k: tuple(v.tolist()) for k, v in g.items()},
                     peaks_A=peaks, n_frames=n, dr_A=float(dr_A),
                     a_A=None if a_A is None else float(a_A))


def first_peak(r_A: Sequence[float], g: Sequence[float], min_fraction: float = 0.5,
               smooth_A: float = 0.04) -> float:
    """Position (A) of the first peak of ``g``.

    ``g`` is first smoothed with a Gaussian of standard deviation ``smooth_A`` (bin-to-bin
    noise of a single thermal frame would otherwise split the peak). The peak is the
    first contiguous run of bins where the smoothed ``g`` reaches ``min_fraction`` of its
    largest value; its position is the vertex of a least-squares parabola through that
    run, or the top bin's centre when the run is too short or the fit fails. A perfect
    lattice (one occupied bin per shell) gives the centre of the bin holding the shell,
    since the smoothing is symmetric.
    """
    r, g = np.asarray(r_A, float), np.asarray(g, float)
    if not np.isfinite(g).all() or g.max() <= 0:
        return float("nan")
    dr = float(r[1] - r[0]) if r.size > 1 else 1.0
    if smooth_A and smooth_A > 0.5 * dr:
        sig = smooth_A / dr
        x = np.arange(-int(np.ceil(4 * sig)), int(np.ceil(4 * sig)) + 1)
        ker = np.exp(-0.5 * (x / sig) ** 2)
        g = np.convolve(g, ker / ker.sum(), mode="same")
    above = g >= min_fraction * g.max()
    k0 = int(np.flatnonzero(above)[0])
    k1 = k0
    while k1 + 1 < g.size and above[k1 + 1]:
        k1 += 1
    run = slice(k0, k1 + 1)
    kmax = k0 + int(np.argmax(g[run]))
    if k1 - k0 + 1 >= 3:
        c2, c1, _ = np.polyfit(r[run], g[run], 2)
        if c2 < 0:
            vertex = -c1 / (2 * c2)
            if r[k0] <= vertex <= r[k1]:
                return float(vertex)
    return float(r[kmax])


def perfect_lattice_peaks(a_A: float) -> dict[str, float]:
    """First-shell distances of perfect rock salt of edge ``a_A``: Li-F a/2, Li-Li and F-F
    a/sqrt(2) (A)."""
    a = float(a_A)
    return {"Li-F": a / 2.0, "Li-Li": a / float(np.sqrt(2.0)), "F-F": a / float(np.sqrt(2.0))}


def rocksalt_a_from_cell(atoms) -> float:
    """Lattice constant (A) of a cubic rock-salt supercell of ``n^3`` conventional cells,
    from its edge and atom count (one interstitial is tolerated: 1001 atoms -> n = 5)."""
    lengths = atoms.cell.lengths()
    n = round((len(atoms) / 8.0) ** (1.0 / 3.0))
    if n < 1 or abs(8 * n ** 3 - len(atoms)) > 1:
        raise ValueError(f"{atoms.info.get('source', 'structure')}: {len(atoms)} atoms is not "
                         "8 n^3 (+1): not a cubic rock-salt supercell")
    return float(np.mean(lengths) / n)


def structure_rdf(name_or_path: str, r_max_A: float = 6.0, dr_A: float = 0.02) -> RDFResult:
    """Partial RDFs of one of the study's equilibrated LAMMPS structures (e.g. ``"300K"``,
    :data:`lidiff_helpers.io.data.STARTING_STRUCTURES`), one frame."""
    from lidiff_helpers.io.data import read_lammps_data

    at = read_lammps_data(name_or_path)
    return partial_rdf([at], r_max_A=r_max_A, dr_A=dr_A, a_A=rocksalt_a_from_cell(at))


def peak_table(results: Mapping[str, RDFResult], source: str = ""):
    """First-peak positions against the perfect-lattice shells of each result's own
    lattice constant (a/2 for Li-F, a/sqrt 2 for Li-Li and F-F), as a DataFrame with
    columns ``name``, ``source``, ``pair``, ``peak_A``, ``perfect_A``, ``shift_A``,
    ``a_A``, ``temperature_K``, ``n_frames``."""
    import pandas as pd

    rows = []
    for name, r in results.items():
        perf = r.perfect_peaks_A() or {}
        for pair, peak in r.peaks_A.items():
            p = perf.get(pair)
            rows.append({"name": name, "source": source, "pair": pair, "peak_A": peak,
                         "perfect_A": p, "shift_A": None if p is None else peak - p,
                         "a_A": r.a_A, "temperature_K": r.temperature_K,
                         "n_frames": r.n_frames})
    return pd.DataFrame(rows)
