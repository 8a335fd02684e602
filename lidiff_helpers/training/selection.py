"""Choosing fine-tuning frames: random (the study) or by diversity (FIRE).

The study draws its fine-tuning sets at random with a fixed bulk/interstitial
composition (its Table 1: 10 bulk + 100 interstitial, ...). The FIRE framework (Liu et
al.) instead picks the most *diverse* frames: one descriptor vector per frame, a PCA,
K-means with k = the subset size, and the frame nearest each centroid. Both are here,
and both are always disjoint from the held-out test set
(:func:`lidiff_helpers.io.data.test_hashes`).

Descriptors
-----------
FIRE uses averaged SOAP vectors. lidiff uses the foundation model's own MACE descriptors
(``MACECalculator.get_descriptors``: the invariant node features of every layer),
summarised per species as the **mean and the standard deviation over the atoms of that
species** (Li block, then F block). The mean alone would dilute the single interstitial
Li among 108 lattice Li; the spread keeps the local distortion it causes visible.

:func:`select_diverse` is a pure function over arrays, used also by the active-learning
notebook for diversity selection inside an uncertainty band.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from lidiff_helpers.core.errors import SelectionError
from lidiff_helpers.io import data

__all__ = [
    "SelectionError",
    "check_disjoint_from_test",
    "frame_descriptors",
    "kmeans",
    "pca_reduce",
    "pool_descriptors",
    "select_diverse",
    "select_subset",
    "validation_subset",
]

#: species order of the per-species descriptor blocks (Li, F)
SPECIES = (3, 9)


# ----------------------------------------------------------------------------- pure maths

def pca_reduce(x: np.ndarray, n_components: int | None = None,
               explained: float = 0.99) -> np.ndarray:
    """Standardise the columns of ``x`` and project on its principal components.

    Parameters
    ----------
    x : (n_samples, n_features)
    n_components : keep this many components; None = the fewest that explain
        ``explained`` of the variance
    explained : variance fraction kept when ``n_components`` is None

    Columns with zero variance are dropped (they carry no information).
    """
    x = np.asarray(x, float)
    if x.ndim != 2:
        raise SelectionError(f"descriptors must be 2-D (frames x features), got {x.shape}")
    mu, sd = x.mean(axis=0), x.std(axis=0)
    keep = sd > 1e-12 * max(1.0, float(np.abs(x).max(initial=0.0)))
    if not keep.any():
        return np.zeros((len(x), 1))
    z = (x[:, keep] - mu[keep]) / sd[keep]
    u, s, _ = np.linalg.svd(z, full_matrices=False)
    if n_components is None:
        frac = np.cumsum(s**2) / max(float((s**2).sum()), 1e-300)
        n_components = int(np.searchsorted(frac, explained) + 1)
    n_components = max(1, min(int(n_components), len(s)))
    return u[:, :n_components] * s[:n_components]


def kmeans(x: np.ndarray, k: int, seed: int, n_init: int = 8,
           max_iter: int = 300) -> tuple[np.ndarray, np.ndarray]:
    """K-means (k-means++ seeding, Lloyd iterations, best of ``n_init``).

    Returns ``(centroids (k, d), labels (n,))``. Deterministic for a given ``seed``.
    """
    x = np.asarray(x, float)
    n = len(x)
    if not 1 <= k <= n:
        raise SelectionError(f"k-means: k={k} must be between 1 and the {n} samples")
    rng = np.random.default_rng(seed)
    best = (np.inf, None, None)
    for _ in range(n_init):
        cent = np.empty((k, x.shape[1]))
        cent[0] = x[rng.integers(n)]
        d2 = ((x - cent[0]) ** 2).sum(1)
        for j in range(1, k):
            p = d2 / d2.sum() if d2.sum() > 0 else np.full(n, 1.0 / n)
            cent[j] = x[rng.choice(n, p=p)]
            d2 = np.minimum(d2, ((x - cent[j]) ** 2).sum(1))
        labels = np.full(n, -1)
        for _ in range(max_iter):
            dist = ((x[:, None, :] - cent[None, :, :]) ** 2).sum(-1)
            new = dist.argmin(1)
            if np.array_equal(new, labels):
                break
            labels = new
            for j in range(k):
                members = x[labels == j]
                # an emptied cluster takes the point farthest from its centroid
                cent[j] = members.mean(0) if len(members) else x[dist.min(1).argmax()]
        inertia = float(((x - cent[labels]) ** 2).sum())
        if inertia < best[0]:
            best = (inertia, cent.copy(), labels.copy())
    return best[1], best[2]


def select_diverse(descriptors: np.ndarray, k: int, seed: int,
                   n_components: int | None = None) -> np.ndarray:
    """Indices of ``k`` diverse rows of ``descriptors`` (FIRE's selection).

    Standardise, PCA (:func:`pca_reduce`), K-means with ``k`` clusters
    (:func:`kmeans`), then the row nearest each centroid (the next nearest unused row
    when two centroids share a nearest row). Pure: arrays in, sorted indices out.

    Parameters
    ----------
    descriptors : (n_frames, n_features) one vector per frame
    k : number of frames to pick (``k >= n_frames`` returns every index)
    seed : K-means seed
    n_components : PCA components kept (default: 99 % of the variance)
    """
    x = np.asarray(descriptors, float)
    if x.ndim != 2 or len(x) == 0:
        raise SelectionError(f"select_diverse needs a non-empty 2-D array, got {x.shape}")
    if not np.isfinite(x).all():
        raise SelectionError("select_diverse: descriptors hold NaN/inf")
    if k <= 0:
        return np.array([], dtype=int)
    if k >= len(x):
        return np.arange(len(x))
    z = pca_reduce(x, n_components)
    cent, _ = kmeans(z, k, seed)
    used: set[int] = set()
    out = []
    for c in cent:
        order = np.argsort(((z - c) ** 2).sum(1), kind="stable")
        pick = next(int(i) for i in order if int(i) not in used)
        used.add(pick)
        out.append(pick)
    return np.sort(np.array(out, dtype=int))


# ----------------------------------------------------------------------------- descriptors

def frame_descriptors(frames: Sequence, calc, species: Sequence[int] = SPECIES,
                      progress: bool = False) -> np.ndarray:
    """Per-frame MACE descriptor summary: per species, mean and std over its atoms.

    Returns (n_frames, 2 * len(species) * n_features). ``calc`` is a
    ``MACECalculator`` (see :func:`lidiff_helpers.simulation.models.get_calculator`).
    """
    it: Iterable = frames
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(frames, desc="MACE descriptors", unit="frame")
    rows = []
    for at in it:
        d = np.asarray(calc.get_descriptors(at, invariants_only=True))
        z = np.asarray(at.numbers)
        blocks = []
        for s in species:
            m = d[z == s]
            if len(m) == 0:
                blocks += [np.zeros(d.shape[1]), np.zeros(d.shape[1])]
            else:
                blocks += [m.mean(0), m.std(0)]
        rows.append(np.concatenate(blocks))
    return np.asarray(rows)


def pool_descriptors(model_spec: str, cache_dir: str | Path,
                     hashes: Iterable[str] | None = None, source: str = "deepmd",
                     dtype: str = "float32") -> dict[str, np.ndarray]:
    """Descriptors of LiF pool frames by content hash, cached on disk.

    Parameters
    ----------
    model_spec : the model whose descriptors are used (the foundation model)
    cache_dir : folder of the cache file ``descriptors-<source>-<model sha256[:12]>.npz``;
        frames already in it are not recomputed, new ones are added
    hashes : frames wanted (default: every non-test frame of the pool)
    """
    from lidiff_helpers.simulation import models

    ident = models.model_identity(model_spec)
    cache = Path(cache_dir) / f"descriptors-{source}-{ident['sha256'][:12]}.npz"
    pool = data.lif_pool(source)
    held = data.test_hashes()
    want = list(hashes) if hashes is not None else [h for h in pool.hashes if h not in held]
    got: dict[str, np.ndarray] = {}
    if cache.is_file():
        z = np.load(cache)
        got = dict(zip(z["hashes"].tolist(), z["x"]))
    todo = [h for h in want if h not in got]
    if todo:
        calc = models.get_calculator(model_spec, dtype=dtype, verbose=False)
        by = pool.by_hash()
        unknown = [h for h in todo if h not in by]
        if unknown:
            raise SelectionError(f"{len(unknown)} frame hash(es) not in the '{source}' pool "
                                 f"(first {unknown[0]})")
        x = frame_descriptors([by[h] for h in todo], calc, progress=True)
        got.update(zip(todo, x))
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_name(cache.name + ".tmp.npz")
        np.savez(tmp, hashes=np.array(list(got)), x=np.stack(list(got.values())))
        tmp.replace(cache)
        cache.with_suffix(".json").write_text(json.dumps(
            {"model": ident, "source": source, "n_frames": len(got),
             "summary": "per species (Li, F): mean and std of MACE invariant node features"},
            indent=1))
    return {h: got[h] for h in want}


# ----------------------------------------------------------------------------- subsets

def check_disjoint_from_test(frames: Iterable, what: str = "training subset") -> None:
    """Raise :class:`SelectionError` if any frame is in the held-out test set."""
    held = data.test_hashes()
    bad = [at.info.get("source", "?") for at in frames
           if (at.info.get("hash") or data.frame_hash(at)) in held]
    if bad:
        raise SelectionError(f"{what} contains {len(bad)} held-out test frame(s) "
                             f"(first: {bad[0]}); test frames must never be trained on")


def validation_subset(n_bulk: int, n_interstitial: int, seed: int,
                      source: str = "deepmd") -> list:
    """The validation frames shared by every arm of a sweep (seeded, non-test)."""
    return data.training_subset(n_bulk, n_interstitial, seed, source=source)


def candidates(kind: str, seed: int, exclude: Iterable[str] = (),
               pool_max: int | None = None, source: str = "deepmd") -> list:
    """Non-test, non-excluded frames of one kind, in pool order; a seeded subsample of
    ``pool_max`` of them when given (to bound the descriptor cost of diverse selection)."""
    pool = data.lif_pool(source)
    banned = set(data.test_hashes()) | set(exclude)
    out = [a for h, a in zip(pool.hashes, pool.frames)
           if a.info["kind"] == kind and h not in banned]
    if pool_max is not None and len(out) > pool_max:
        idx = np.random.default_rng(seed + 7919).choice(len(out), pool_max, replace=False)
        out = [out[i] for i in sorted(idx)]
    return out


def diverse_candidate_hashes(seed: int, exclude: Iterable[str] = (),
                             pool_max: int | None = None, source: str = "deepmd") -> list[str]:
    """Hashes whose descriptors a diverse selection with these arguments needs."""
    return [a.info["hash"] for kind in ("bulk", "interstitial")
            for a in candidates(kind, seed, exclude, pool_max, source)]


def select_subset(selection: str, n_bulk: int, n_interstitial: int, seed: int,
                  descriptors: Mapping[str, np.ndarray] | None = None,
                  exclude: Iterable[str] = (), source: str = "deepmd",
                  pool_max: int | None = None) -> list:
    """Fine-tuning frames: ``n_bulk`` bulk + ``n_interstitial`` interstitial.

    Parameters
    ----------
    selection : ``random`` (seeded draw, :func:`lidiff_helpers.io.data.training_subset`) or
        ``diverse`` (:func:`select_diverse` inside each kind, so the composition is kept)
    descriptors : hash -> descriptor vector (:func:`pool_descriptors`); needed for diverse
    exclude : frame hashes never to pick (e.g. the validation set)
    pool_max : diverse only: choose among a seeded subsample of at most this many
        candidates per kind (None = the whole pool, as FIRE)

    Raises
    ------
    SelectionError
        unknown selection, missing descriptors, or a test frame in the result.
    lidiff_helpers.io.data.DataError
        more frames asked for than the local pool holds (the larger Table 1 subsets need
        the upstream-only training files).
    """
    exclude = set(exclude)
    if selection == "random":
        out = data.training_subset(n_bulk, n_interstitial, seed, source=source,
                                   exclude=exclude)
    elif selection == "diverse":
        if descriptors is None:
            raise SelectionError("diverse selection needs descriptors "
                                 "(selection.pool_descriptors(foundation_model, ...))")
        out = []
        for kind, n in (("bulk", n_bulk), ("interstitial", n_interstitial)):
            cands = candidates(kind, seed, exclude, pool_max, source)
            if n > len(cands):
                raise data.DataError(
                    f"diverse selection: asked for {n} {kind} frames but only "
                    f"{len(cands)} distinct non-test {kind} candidates are in the "
                    f"'{source}' pool" + (f" (pool_max={pool_max})" if pool_max else "")
                    + "; the larger Table 1 subsets need the upstream-only files "
                    + ", ".join(Path(p).name for p in data.DEEPMD_UPSTREAM_ONLY))
            missing = [a.info["hash"] for a in cands if a.info["hash"] not in descriptors]
            if missing:
                raise SelectionError(f"no descriptor for {len(missing)} {kind} frames "
                                     f"(first {missing[0]}); recompute pool_descriptors")
            x = np.stack([descriptors[a.info["hash"]] for a in cands])
            out += [cands[i] for i in select_diverse(x, n, seed)]
    else:
        raise SelectionError(f"unknown selection {selection!r}: use 'random' or 'diverse'")
    check_disjoint_from_test(out, f"{selection} subset {n_bulk}+{n_interstitial}")
    return out
