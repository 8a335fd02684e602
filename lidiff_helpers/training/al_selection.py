"""Selection of active-learning candidates by committee deviation: the study's bands
(30/60/10 % of the frames in the 1/1.5/2 s shells) and DP-GEN trust levels. The reading
of the study's "within k sigma" is documented in :mod:`lidiff_helpers.training.active_learning`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

__all__ = ["allocate_quotas", "deviation_bands", "BandSelection", "select_banded",
           "select_trust"]


# ============================================================================ selection

def allocate_quotas(n: int, fractions: Sequence[float]) -> list[int]:
    """Split ``n`` frames by ``fractions`` (largest remainder; the parts add up to ``n``).

    Raises
    ------
    ValueError
        negative fractions or fractions that do not add up to 1.
    """
    fr = np.asarray(fractions, float)
    if (fr < 0).any() or abs(fr.sum() - 1.0) > 1e-6:
        raise ValueError(f"band fractions {list(fractions)} must be >= 0 and add up to 1")
    raw = fr * int(n)
    q = np.floor(raw).astype(int)
    rest = int(n) - int(q.sum())
    order = np.argsort(-(raw - q), kind="stable")
    q[order[:rest]] += 1
    return [int(x) for x in q]


def deviation_bands(dev: np.ndarray, edges_sigma: Sequence[float] = (1.0, 1.5, 2.0),
                    side: str = "both", center: str = "mean"):
    """Band of every frame: 0 = within ``edges[0]`` s of the centre, k = the k-th shell.

    Returns ``(band, m, s)``: band (n_frames,) with -1 beyond the last edge; m the
    centre (mean or median of ``dev``) and s the standard deviation of ``dev``, eV/A.
    See the module docstring for the interpretation.
    """
    d = np.asarray(dev, float)
    e = np.asarray(edges_sigma, float)
    if e.ndim != 1 or len(e) == 0 or (np.diff(e) <= 0).any() or (e <= 0).any():
        raise ValueError(f"band edges {list(edges_sigma)} must be positive and increasing")
    if side not in ("both", "upper"):
        raise ValueError(f"side must be 'both' or 'upper', got {side!r}")
    if center not in ("mean", "median"):
        raise ValueError(f"center must be 'mean' or 'median', got {center!r}")
    if d.size == 0:
        return np.zeros(0, int), float("nan"), float("nan")
    m = float(d.mean() if center == "mean" else np.median(d))
    s = float(d.std())
    if s == 0.0:
        return np.zeros(d.size, int), m, s
    z = (d - m) / s
    z = np.abs(z) if side == "both" else np.maximum(z, 0.0)
    band = np.searchsorted(e, z, side="left")  # z <= e[0] -> 0; e[0] < z <= e[1] -> 1 ...
    band[band >= len(e)] = -1
    return band.astype(int), m, s


@dataclass(frozen=True)
class BandSelection:
    """Outcome of :func:`select_banded` (indices into the candidate array).

    Attributes
    ----------
    indices : selected candidates, sorted
    band_of : band of each selected index
    requested, taken, available : per band: quota, frames taken, candidates in band
    center_eV_A, sigma_eV_A : centre and standard deviation of the deviation distribution
    edges_sigma : band edges in units of sigma
    side : ``both`` or ``upper``
    """

    indices: np.ndarray
    band_of: np.ndarray
    requested: tuple
    taken: tuple
    available: tuple
    center_eV_A: float
    sigma_eV_A: float
    edges_sigma: tuple
    side: str

    def band_limits_eV_A(self) -> list[tuple[float, float]]:
        """Upper/lower deviation limits (eV/A) of each band's outer edge."""
        m, s = self.center_eV_A, self.sigma_eV_A
        return [(m - e * s if self.side == "both" else -np.inf, m + e * s)
                for e in self.edges_sigma]

    def to_dict(self) -> dict:
        return {"indices": [int(i) for i in self.indices],
                "band_of": [int(b) for b in self.band_of], "requested": list(self.requested),
                "taken": list(self.taken), "available": list(self.available),
                "center_eV_A": self.center_eV_A, "sigma_eV_A": self.sigma_eV_A,
                "edges_sigma": list(self.edges_sigma), "side": self.side}


def _pick(cands: np.ndarray, k: int, rng, descriptors, seed: int) -> np.ndarray:
    if k <= 0 or len(cands) == 0:
        return np.zeros(0, int)
    if k >= len(cands):
        return np.asarray(cands, int)
    if descriptors is None:
        return np.sort(rng.choice(cands, size=k, replace=False))
    try:
        from lidiff_helpers.training.selection import select_diverse
    except ImportError as exc:  # pragma: no cover - selection.py is part of the package
        raise ImportError("diversity selection needs lidiff_helpers.training.selection."
                          "select_diverse (the fine-tuning issue's module), which is not "
                          f"importable: {exc}") from exc
    sub = select_diverse(np.asarray(descriptors)[cands], int(k), int(seed))
    return np.asarray(cands, int)[np.asarray(sub, int)]


def select_banded(dev: np.ndarray, n: int,
                  fractions: Sequence[float] = (0.3, 0.6, 0.1),
                  edges_sigma: Sequence[float] = (1.0, 1.5, 2.0), side: str = "both",
                  center: str = "mean", seed: int = 0, descriptors: np.ndarray | None = None,
                  redistribute: bool = True) -> BandSelection:
    """The study's banded selection of ``n`` frames (see the module docstring).

    Parameters
    ----------
    dev : per-frame deviations (Eq. 4) of the candidates, eV/A
    n : frames to select
    fractions : share of the selected frames per band (study: 0.3, 0.6, 0.1)
    edges_sigma : outer edge of each band in units of the distribution's std
    side : ``both`` (|d - m|) or ``upper`` (d - m, below-mean frames in band 1)
    center : ``mean`` (study reading) or ``median``
    seed : seed of the random draws (and of K-means for diversity)
    descriptors : (n_candidates, n_features) to pick by diversity within each band
    redistribute : give a band's shortfall to the other bands (largest quota first)
    """
    d = np.asarray(dev, float)
    if len(fractions) != len(edges_sigma):
        raise ValueError(f"{len(fractions)} band fractions for {len(edges_sigma)} band edges")
    if descriptors is not None and len(descriptors) != len(d):
        raise ValueError(f"{len(descriptors)} descriptors for {len(d)} candidates")
    band, m, s = deviation_bands(d, edges_sigma, side, center)
    quotas = allocate_quotas(int(n), fractions)
    rng = np.random.default_rng(seed)
    members = [np.flatnonzero(band == k) for k in range(len(quotas))]
    chosen: list[np.ndarray] = []
    taken = []
    for k, q in enumerate(quotas):
        got = _pick(members[k], q, rng, descriptors, seed + k)
        chosen.append(got)
        taken.append(len(got))
    short = int(n) - sum(taken)
    if short > 0 and redistribute:
        for k in sorted(range(len(quotas)), key=lambda j: (-fractions[j], j)):
            if short <= 0:
                break
            spare = np.setdiff1d(members[k], chosen[k])
            extra = _pick(spare, min(short, len(spare)), rng, descriptors, seed + 100 + k)
            chosen[k] = np.sort(np.concatenate([chosen[k], extra]))
            taken[k] += len(extra)
            short -= len(extra)
    idx = np.concatenate(chosen) if chosen else np.zeros(0, int)
    bands = np.concatenate([np.full(len(c), k) for k, c in enumerate(chosen)]) \
        if chosen else np.zeros(0, int)
    order = np.argsort(idx, kind="stable")
    return BandSelection(idx[order].astype(int), bands[order].astype(int), tuple(quotas),
                         tuple(taken), tuple(len(mm) for mm in members), m, s,
                         tuple(float(e) for e in edges_sigma), side)


def select_trust(dev: np.ndarray, lo_eV_A: float, hi_eV_A: float, n_max: int | None = None,
                 seed: int = 0) -> np.ndarray:
    """DP-GEN trust levels: sorted indices with ``lo <= dev < hi`` (at most ``n_max``,
    drawn at random with ``seed`` when more qualify)."""
    if not lo_eV_A < hi_eV_A:
        raise ValueError(f"trust levels need lo < hi, got lo={lo_eV_A}, hi={hi_eV_A}")
    d = np.asarray(dev, float)
    idx = np.flatnonzero((d >= lo_eV_A) & (d < hi_eV_A))
    if n_max is not None and len(idx) > n_max:
        idx = np.sort(np.random.default_rng(seed).choice(idx, size=int(n_max), replace=False))
    return idx.astype(int)


