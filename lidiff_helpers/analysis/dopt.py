r"""Extrapolation grade by D-optimality (MaxVol), as in the MLIP-3 active-learning workflow.

Each atom of element :math:`e` has a feature row :math:`b \in \mathbb{R}^r` (MACE:
:mod:`lidiff_helpers.simulation.descriptors`). The *active set* of :math:`e` is the :math:`r`
training atoms whose rows form the square :math:`A` of (locally) largest :math:`|\det A|`, the
most spanning environments (D-optimal design; Podryabinkin & Shapeev, Comput. Mater. Sci.
140, 171 (2017)). A new atom's coefficients and grade are

.. math::  c^\top A = b^\top \;\Leftrightarrow\; c = b A^{-1}, \qquad \gamma = \max_j |c_j|,

:math:`|c_j|` being the factor by which :math:`|\det A|` grows if the atom replaces active row
:math:`j`: :math:`\gamma \le 1` inside the active set's unit box, :math:`> 1` extrapolation. A
configuration's grade is its largest atom's (Podryabinkin et al., J. Chem. Phys. 159, 084112
(2023), MLIP-3). :math:`\gamma` is unchanged by any invertible linear map :math:`T` of the
features (:math:`bT (AT)^{-1} = bA^{-1}`): their units and scaling do not matter.

MaxVol (Goreinov et al., "How to find a good submatrix", Matrix Methods: Theory, Algorithms
and Applications, 247 (2010)): start from the rows chosen by QR with column pivoting of
:math:`X^\top` (greedy volume), form :math:`B = X A^{-1}` and, while some :math:`|B_{ij}| >`
``tol``, put row :math:`i` in place of active row :math:`j` (:math:`|\det A|` grows by
:math:`|B_{ij}|`; rank-one update of :math:`B`). With ``tol = 1`` the result is *dominant*: no
single swap increases :math:`|\det A|`, so every training row has :math:`\gamma \le 1`. It is
a local, not always the global, maximum, but within :math:`r^{r/2}` of it (:math:`A_{max} =
B_{I^*} A` and Hadamard's bound on :math:`|\det B_{I^*}|`).

Implementation: this module's own (numpy/scipy). ``maxvolpy`` (0.3.8, 2016) has no wheel
and its sdist fails to build here; ``teneva.maxvol`` (0.14.11, pure Python) is the same
algorithm (LU start) but brings a tensor-train library and ``opt_einsum``, refuses ``n == r``
and stops with a bare ``LinAlgError`` on rank-deficient input. Rectangular MaxVol (Mikhalev & Oseledets, Linear
Algebra Appl. 538, 187 (2018)) is not needed: as in MLIP-3 each element has its own square
active set (:math:`r` atoms for :math:`r` features), which defines :math:`\gamma` exactly.
When an element's training rows span only :math:`k < r` dimensions (few atoms, a perfect
crystal), they are projected on their :math:`k` leading right singular vectors and MaxVol
works there (with a warning); a new atom's component outside that span is not graded.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.linalg

from lidiff_helpers.core.errors import ParameterError

__all__ = ["ActiveSet", "ElementActiveSet", "Grades", "MaxVolResult", "Selection",
           "extrapolation_grade", "maxvol", "select"]

_SLACK = 1e-9  # a swap must grow |det| by more than tol * (1 + _SLACK): no round-off cycling


def _matrix(x, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=float)
    if a.ndim == 1:
        a = a[None, :]
    if a.ndim != 2 or a.shape[1] == 0:
        raise ParameterError(f"{name} must be a 2-D (rows x features) array, got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ParameterError(f"{name} holds NaN or inf ({int((~np.isfinite(a)).sum())} entries)")
    return a


def _rank_tol(s: np.ndarray, shape: tuple[int, int]) -> float:
    """numpy's numerical-rank cutoff (``matrix_rank``): s_max * max(m, n) * eps."""
    return float(s[0]) * max(shape) * np.finfo(float).eps


@dataclass(frozen=True, eq=False)
class MaxVolResult:
    """A (locally) maximal-volume square submatrix of a tall matrix ``X`` (n x r).

    Attributes
    ----------
    indices : (r,) rows of ``X``; ``indices[j]`` is row j of the submatrix ``A = X[indices]``
    coefficients : (n, r) ``B = X A^{-1}`` (``B[indices] = I``); ``max|B[i]|`` is row i's gamma
    max_coefficient : max |B| (<= tol when converged)
    iterations : row swaps made after the QR initialisation
    logabsdet : log |det A| (natural log; units: log of the features' units to the power r)
    converged : False when ``max_iters`` swaps were made and some |B_ij| still exceeds tol
    """

    indices: np.ndarray
    coefficients: np.ndarray = field(repr=False)
    max_coefficient: float
    iterations: int
    logabsdet: float
    converged: bool


def maxvol(X, tol: float = 1.05, max_iters: int = 1000, init=None) -> MaxVolResult:
    """Rows of the tall matrix ``X`` whose square submatrix has locally maximal |det|.

    Parameters
    ----------
    X : (n, r) array, n >= r, of numerical rank r (features, any units)
    tol : swap while some |B_ij| > tol (>= 1; 1 gives a dominant submatrix, 1.01-1.1 is
        faster and within a factor tol**r of it in volume)
    max_iters : at most this many swaps
    init : (r,) starting rows (default: QR with column pivoting of ``X.T``)

    Raises
    ------
    ParameterError
        not 2-D, NaN/inf, fewer rows than columns, rank < r, tol < 1, bad ``init``.
    """
    x = _matrix(X, "X")
    n, r = x.shape
    if n < r:
        raise ParameterError(f"maxvol needs at least as many rows as columns, got X {x.shape}")
    if not tol >= 1.0:
        raise ParameterError(f"maxvol tol must be >= 1, got {tol}")
    if init is None:
        rmat, piv = scipy.linalg.qr(x.T, mode="r", pivoting=True)
        diag = np.abs(np.diag(rmat))
        rank = int((diag > _rank_tol(diag, x.shape)).sum()) if diag[0] > 0 else 0
        if rank < r:
            raise ParameterError(f"maxvol: X {x.shape} has numerical rank {rank} < {r} columns; "
                                 "every square submatrix is singular")
        idx = piv[:r].copy()
    else:
        idx = np.asarray(init, dtype=int).copy()
        if idx.shape != (r,) or len(set(idx.tolist())) != r or idx.min() < 0 or idx.max() >= n:
            raise ParameterError(f"maxvol init must be {r} distinct rows in [0, {n}), got {init}")
    try:
        b = scipy.linalg.solve(x[idx].T, x.T).T
    except np.linalg.LinAlgError as exc:
        raise ParameterError(f"maxvol: the starting rows {idx.tolist()} are singular") from exc
    it = 0
    limit = tol * (1.0 + _SLACK)
    while it < max_iters:
        i, j = divmod(int(np.abs(b).argmax()), r)
        if abs(b[i, j]) <= limit:
            break
        idx[j] = i
        bj, bi = b[:, j].copy(), b[i].copy()
        bi[j] -= 1.0
        b -= np.outer(bj, bi / bj[i])
        it += 1
    b = scipy.linalg.solve(x[idx].T, x.T).T  # fresh, free of the updates' round-off
    bmax = float(np.abs(b).max())
    return MaxVolResult(idx, b, bmax, it, float(np.linalg.slogdet(x[idx])[1]), bmax <= limit)


def extrapolation_grade(B, active, rcond: float | None = None) -> np.ndarray:
    r"""Grade :math:`\gamma = \max_j |c_j|`, :math:`c = b A^{-1}`, of every row ``b`` of ``B``.

    Parameters
    ----------
    B : (m, r) feature rows (or one (r,) row)
    active : (r, r) the active set's rows ``A``, in the same features (any units)
    rcond : relative singular-value cutoff below which ``A`` counts as singular (default:
        numpy's rank cutoff r * eps)

    Returns
    -------
    (m,) gamma, dimensionless (1 for the active rows themselves).

    Notes
    -----
    ``c`` solves :math:`A^\top c^\top = b^\top` by LU with partial pivoting
    (:func:`scipy.linalg.solve`). If the smallest singular value of ``A`` is below the cutoff,
    a warning is given and ``c`` is the minimum-norm least-squares solution (SVD,
    :func:`numpy.linalg.lstsq` with that cutoff): components of ``b`` along the singular
    directions are dropped, so gamma is then a lower bound.
    """
    a = _matrix(active, "active")
    b = _matrix(B, "B")
    r = a.shape[1]
    if a.shape[0] != r:
        raise ParameterError(f"active must be square (r x r), got shape {a.shape}")
    if b.shape[1] != r:
        raise ParameterError(f"B has {b.shape[1]} features, active set {r}")
    s = np.linalg.svd(a, compute_uv=False)
    cut = float(s[0]) * rcond if rcond is not None else _rank_tol(s, a.shape)
    if s[-1] > cut:
        c = scipy.linalg.solve(a.T, b.T).T
    else:
        warnings.warn(f"extrapolation_grade: active set is singular (singular values "
                      f"{s[-1]:.3g} <= cutoff {cut:.3g}); using least squares", stacklevel=2)
        c = np.linalg.lstsq(a.T, b.T, rcond=cut / s[0] if s[0] > 0 else None)[0].T
    return np.abs(c).max(axis=1)


@dataclass(frozen=True, eq=False)
class ElementActiveSet:
    """The active set of one element.

    Attributes
    ----------
    number : atomic number Z
    rows : (k, r) features of the k active atoms (k = rank of the element's training rows)
    basis : (r, k) orthonormal basis of the span MaxVol worked in (identity span when k = r)
    logabsdet : log of the k-volume of ``rows`` (= log|det(rows @ basis)|, basis-independent)
    """

    number: int
    rows: np.ndarray = field(repr=False)
    basis: np.ndarray = field(repr=False)
    logabsdet: float

    @classmethod
    def build(cls, number: int, X, tol: float = 1.0, n_keep: int = 0) -> ElementActiveSet:
        """MaxVol over the rows of ``X`` (n, r), all of element ``number``; when the first
        ``n_keep`` rows (a previous active set) span the same dimension as all rows, MaxVol
        starts from them, so the volume can only grow."""
        x = _matrix(X, f"features of Z={number}")
        _, s, vt = np.linalg.svd(x, full_matrices=False)
        k = int((s > _rank_tol(s, x.shape)).sum()) if s[0] > 0 else 0
        if k == 0:
            raise ParameterError(f"features of Z={number} are all zero")
        if k < x.shape[1]:
            warnings.warn(f"Z={number}: {len(x)} training rows span {k} of {x.shape[1]} feature "
                          f"dimensions; grades see only that span", stacklevel=3)
        basis = vt[:k].T
        res = maxvol(x @ basis, tol=tol, init=np.arange(k) if n_keep == k else None)
        return cls(int(number), x[res.indices], basis, res.logabsdet)

    def grade(self, X) -> np.ndarray:
        """(m,) gamma of rows ``X`` (m, r) of this element."""
        x = _matrix(X, f"features of Z={self.number}")
        if x.shape[1] != self.rows.shape[1]:
            raise ParameterError(f"Z={self.number}: features have {x.shape[1]} columns, the "
                                 f"active set {self.rows.shape[1]}")
        return extrapolation_grade(x @ self.basis, self.rows @ self.basis)


@dataclass(frozen=True, eq=False)
class Grades:
    """Extrapolation grades: ``per_atom[f]`` (n_atoms,) of frame f; ``per_config`` (n_frames,)
    the largest atom's. An atom of an element the active set has no rows for gets ``inf``."""

    per_atom: tuple[np.ndarray, ...] = field(repr=False)
    per_config: np.ndarray


def _frames(features, elements) -> tuple[list[np.ndarray], list[np.ndarray]]:
    if len(features) != len(elements):
        raise ParameterError(f"{len(features)} feature arrays but {len(elements)} element arrays")
    xs, zs = [], []
    for f, (x, z) in enumerate(zip(features, elements)):
        x, z = _matrix(x, f"features of frame {f}"), np.asarray(z, dtype=int).ravel()
        if len(z) != len(x):
            raise ParameterError(f"frame {f}: {len(x)} feature rows but {len(z)} element labels")
        if xs and x.shape[1] != xs[0].shape[1]:
            raise ParameterError(f"frame {f}: {x.shape[1]} feature columns, frame 0 has "
                                 f"{xs[0].shape[1]}")
        xs.append(x)
        zs.append(z)
    return xs, zs


@dataclass(frozen=True, eq=False)
class ActiveSet:
    """Per-element D-optimal active sets (MLIP-3); immutable, :meth:`update` returns a new one.

    ``sets`` holds one :class:`ElementActiveSet` per element, ordered by Z; ``tol`` is the
    MaxVol tolerance used to build and update them.
    """

    sets: tuple[ElementActiveSet, ...]
    tol: float = 1.0

    @classmethod
    def from_features(cls, features: Sequence, elements: Sequence,
                      tol: float = 1.0) -> ActiveSet:
        """Active set from per-frame features (n_atoms, r) and atomic numbers (n_atoms,)."""
        xs, zs = _frames(features, elements)
        if not xs:
            raise ParameterError("ActiveSet needs at least one frame")
        x, z = np.vstack(xs), np.concatenate(zs)
        return cls(tuple(ElementActiveSet.build(int(e), x[z == e], tol) for e in np.unique(z)),
                   tol)

    @property
    def rank(self) -> int:
        """Total dimension spanned (sum of k over elements)."""
        return sum(len(s.rows) for s in self.sets)

    @property
    def logabsdet(self) -> float:
        """Sum over elements of log |det A_e| (the log-volume MaxVol maximises)."""
        return float(sum(s.logabsdet for s in self.sets))

    def grade(self, features: Sequence, elements: Sequence) -> Grades:
        """Grade of every atom and configuration (see the module docstring)."""
        xs, zs = _frames(features, elements)
        by_z = {s.number: s for s in self.sets}
        per_atom = []
        for x, z in zip(xs, zs):
            g = np.full(len(z), np.inf)
            for e in np.unique(z):
                if int(e) in by_z:
                    g[z == e] = by_z[int(e)].grade(x[z == e])
            per_atom.append(g)
        return Grades(tuple(per_atom),
                      np.array([g.max() if len(g) else 0.0 for g in per_atom]))

    def save(self, path, model_sha256: str | None = None) -> Path:
        """Write the active set to ``path`` (``.npz``: per element its number, rows, basis
        and log-volume; the MaxVol tolerance; the SHA256 of the model whose features it
        holds, which :meth:`load` can insist on)."""
        arrays = {"tol": np.array(self.tol), "numbers": np.array([s.number for s in self.sets]),
                  "model_sha256": np.array(model_sha256 or "")}
        for s in self.sets:
            arrays[f"rows_{s.number}"] = s.rows
            arrays[f"basis_{s.number}"] = s.basis
            arrays[f"logabsdet_{s.number}"] = np.array(s.logabsdet)
        path = Path(path)
        np.savez(path, **arrays)
        return path if path.suffix == ".npz" else path.with_suffix(path.suffix + ".npz")

    @classmethod
    def load(cls, path, model_sha256: str | None = None) -> ActiveSet:
        """Read :meth:`save`'s file; with ``model_sha256``, refuse one made from another
        model's features (its grades would be meaningless)."""
        path = Path(path)
        if not path.is_file():
            raise ParameterError(f"active set {path}: no such file")
        with np.load(path, allow_pickle=False) as z:
            made_by = str(z["model_sha256"])
            if model_sha256 and made_by and made_by != model_sha256:
                raise ParameterError(f"active set {path} holds features of model "
                                     f"{made_by[:12]}, not {model_sha256[:12]}")
            sets = tuple(ElementActiveSet(int(e), z[f"rows_{e}"], z[f"basis_{e}"],
                                          float(z[f"logabsdet_{e}"])) for e in z["numbers"])
            return cls(sets, float(z["tol"]))

    def update(self, new_features: Sequence, new_elements: Sequence) -> ActiveSet:
        """A new active set: MaxVol over the union of the active rows and the new atoms' rows
        (per element; elements seen for the first time get their own set)."""
        xs, zs = _frames(new_features, new_elements)
        if not xs:
            return self
        x, z = np.vstack(xs), np.concatenate(zs)
        by_z = {s.number: s.rows for s in self.sets}
        out = []
        for e in sorted(set(by_z) | set(np.unique(z).tolist())):
            old = by_z.get(e, np.empty((0, x.shape[1])))
            if old.shape[1] != x.shape[1]:
                raise ParameterError(f"new features have {x.shape[1]} columns, the active set "
                                     f"{old.shape[1]}")
            rows = np.vstack([old, x[z == e]])
            out.append(ElementActiveSet.build(e, rows, self.tol, len(old)) if len(rows) > len(old)
                       else next(s for s in self.sets if s.number == e))
        return ActiveSet(tuple(out), self.tol)


@dataclass(frozen=True, eq=False)
class Selection:
    """Result of :func:`select`: ``indices`` of the chosen candidates in order of choice,
    ``rank_gain`` and ``gain`` the dimensions and log-volume each added (the log-volume is
    comparable only between equal ranks), ``eligible`` the candidates with gamma >
    gamma_select, ``active_set`` after adding the chosen ones."""

    indices: tuple[int, ...]
    rank_gain: tuple[int, ...]
    gain: tuple[float, ...]
    eligible: tuple[int, ...]
    active_set: ActiveSet


def select(candidates_gamma, gamma_select: float, n: int, active_set: ActiveSet,
           features: Sequence, elements: Sequence) -> Selection:
    """MLIP-3 selection: up to ``n`` candidates with gamma > ``gamma_select``, greedily by volume.

    Each step adds the eligible candidate whose atoms, merged into the active set by MaxVol
    (:meth:`ActiveSet.update`), most increase it: first the spanned dimension, then the
    log-volume (ties: the lower index). Stops early when no candidate increases the volume
    by more than a factor ``active_set.tol``. Deterministic.

    Parameters
    ----------
    candidates_gamma : (n_candidates,) configuration grades (:attr:`Grades.per_config`)
    gamma_select : grade threshold (MLIP-3 default 2; dimensionless, >= 1 sensible)
    n : most configurations to choose
    active_set : the current active set
    features, elements : per candidate, (n_atoms, r) features and (n_atoms,) atomic numbers
    """
    g = np.asarray(candidates_gamma, dtype=float).ravel()
    if np.isnan(g).any():
        raise ParameterError("candidates_gamma holds NaN")
    if len(g) != len(features) or len(g) != len(elements):
        raise ParameterError(f"{len(g)} grades but {len(features)} feature and "
                             f"{len(elements)} element arrays")
    if n < 0:
        raise ParameterError(f"select: n must be >= 0, got {n}")
    eligible = [int(i) for i in np.flatnonzero(g > gamma_select)]
    pool, chosen, dranks, gains, cur = list(eligible), [], [], [], active_set
    min_gain = np.log(active_set.tol) + _SLACK
    while pool and len(chosen) < n:
        best = None
        for i in pool:
            trial = cur.update([features[i]], [elements[i]])
            key = (trial.rank - cur.rank, trial.logabsdet - cur.logabsdet)
            if best is None or key > best[0]:
                best = (key, i, trial)
        (drank, dlog), i, trial = best
        if drank <= 0 and dlog <= min_gain:
            break
        chosen.append(i)
        dranks.append(int(drank))
        gains.append(float(dlog))
        pool.remove(i)
        cur = trial
    return Selection(tuple(chosen), tuple(dranks), tuple(gains), tuple(eligible), cur)
