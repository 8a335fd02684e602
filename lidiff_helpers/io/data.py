"""The study's published data: hashed fetching, validated loading, dedup, splits.

Upstream: ``AlghamdiNada/Li_diffusion_with_MACE`` at commit :data:`UPSTREAM_COMMIT`
(CC BY 4.0; credit Alghamdi, De Angelis, Asinari, Chiavazzo, J. Phys. Energy 2026).
Files are found, in order, in ``$LIDIFF_DATA_DIR`` (an offline copy, hash-checked) or
downloaded with pooch from the pinned commit into ``~/.cache/lidiff`` (hash-checked).

LiF frames are 3x3x3 rock-salt supercells (216 atoms, ``bulk``) or the same with one
extra Li (217 atoms, ``interstitial``), DFT labels under ``REF_energy`` (eV),
``REF_forces`` (eV/A) and ``REF_stress`` (eV/A^3). Loaders validate every frame and name
the file and frame index of any problem.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from lidiff_helpers.core import paths
from lidiff_helpers.core.errors import DataError, DataIntegrityError, DataUnavailableError
from lidiff_helpers.core.provenance import sha256_file

__all__ = [
    "UPSTREAM_REPO", "UPSTREAM_COMMIT", "E0S_EV", "DEEPMD_FILES", "MPA0_AL_FILES",
    "REPLAY_FILES", "STARTING_STRUCTURES", "DataError", "DataUnavailableError",
    "DataIntegrityError", "GIT_PIN", "registry", "upstream_only", "git_blob_sha1", "locate",
    "fetch", "files_used", "read_frames", "frame_hash",
    "classify", "lif_pool", "make_test_manifest", "test_set", "test_hashes",
    "training_subset", "read_lammps_data",
]

UPSTREAM_REPO = "AlghamdiNada/Li_diffusion_with_MACE"
UPSTREAM_COMMIT = "f5b7d0a0352549a3b68302777fc40b57c1a081d3"
UPSTREAM_URL = f"https://raw.githubusercontent.com/{UPSTREAM_REPO}/{UPSTREAM_COMMIT}"
#: registry prefix of a file pinned by its git blob id (upstream only)
GIT_PIN = "gitsha1:"
#: isolated-atom energies of the study (eV)
E0S_EV = {"Li": -202.82202355577203, "F": -803.8441491412796}

_D = "Fine-tuning_with_DeePMD_data"
_M = "Fine-tuning_with_MACE-MPA-0_data"
#: DeePMD-derived, DFT-labelled LiF files (train/valid/test of the sweeps)
DEEPMD_FILES = tuple(
    [f"{_D}/10-REF_train.xyz", f"{_D}/100-REF_train.xyz"]
    + [f"{_D}/{n}-REF_{s}.xyz" for n in ("10", "100", "200", "400", "700", "bulk-700")
       for s in ("valid", "test")])
#: DeePMD-derived training files that exist upstream only
DEEPMD_UPSTREAM_ONLY = tuple(f"{_D}/{n}-REF_train.xyz" for n in ("200", "400", "700", "bulk-700"))
#: MACE-MPA-0 active-learning files (step 0, FT1 = a_step_*, FT2 = b_step_1)
MPA0_AL_FILES = (f"{_M}/step_0/train.xyz", f"{_M}/step_0/valid.xyz",
                 f"{_M}/a_step_1/1_train.xyz", f"{_M}/a_step_1/1_valid.xyz",
                 f"{_M}/a_step_2/2_train.xyz", f"{_M}/b_step_1/1_train.xyz",
                 f"{_M}/b_step_1/1_valid.xyz")
#: MPtrj replay ("pre-training") frames, head pbe_mp
REPLAY_FILES = {"train_900": f"{_D}/train_mp_finetuning-MACE_900.xyz",
                "train_100": f"{_D}/train_mp_finetuning-MACE_100.xyz",
                "valid_100": f"{_D}/valid_mp_finetuning-MACE_100.xyz",
                "train_10000": f"{_D}/REF_10000_mp_finetuning-MACE_run-1.xyz"}
#: the study's MACE-MPA-0 equilibrated 1001-atom structures (LAMMPS data), by label
STARTING_STRUCTURES = {
    "300K": f"{_D}/mpa_300ps_data/mpa_300K_300ps_out.data",
    "400K_0": f"{_D}/mpa_300ps_data/mpa_400K_0_300ps.data",
    "400K_1": f"{_D}/mpa_300ps_data/mpa_400K_1_300ps.data",
    "450K_0": f"{_D}/mpa_300ps_data/mpa_450K_0_300ps.data",
    "450K_1": f"{_D}/mpa_300ps_data/mpa_450K_1_300ps.data",
}


@lru_cache(maxsize=1)
def registry() -> dict[str, str | None]:
    """Upstream path -> pinned hash: a SHA256, or ``gitsha1:<blob id>`` for the files
    that exist upstream only (pinned by their git blob id in the upstream tree)."""
    out: dict[str, str | None] = {}
    for line in (Path(__file__).with_name("data_registry.txt")).read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        h, p = line.split(None, 1)
        out[p.strip()] = None if h == "-" else h
    return out


def upstream_only(rel: str) -> bool:
    """True for a study file the offline copy does not hold (pinned by git blob id)."""
    h = registry().get(rel)
    return h is None or h.startswith(GIT_PIN)


def git_blob_sha1(path: str | os.PathLike) -> str:
    """Git's object id of a file's bytes: SHA-1 of ``b"blob <size>\\0" + bytes``."""
    path = Path(path)
    h = hashlib.sha1(f"blob {path.stat().st_size}\0".encode())
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _resolve_name(name: str) -> str:
    reg = registry()
    if name in reg:
        return name
    hits = [p for p in reg if p.endswith("/" + name) or Path(p).name == name]
    if len(hits) == 1:
        return hits[0]
    if not hits:
        raise DataUnavailableError(f"{name!r} is not a file of the study data "
                                   f"({UPSTREAM_REPO}@{UPSTREAM_COMMIT[:7]}); known: "
                                   + ", ".join(sorted(Path(p).name for p in reg)))
    raise DataUnavailableError(f"{name!r} is ambiguous: {hits}")


_USED: dict[str, str] = {}
_VERIFIED: dict[tuple, str] = {}


def files_used() -> dict[str, str]:
    """Study files fetched in this process (path -> SHA256), for provenance records."""
    return dict(_USED)


def _verify(path: Path, rel: str, expected: str | None) -> str:
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    digest = _VERIFIED.get(key) or sha256_file(path)
    if key not in _VERIFIED and expected is not None and expected.startswith(GIT_PIN):
        blob = git_blob_sha1(path)
        if GIT_PIN + blob != expected:
            raise DataIntegrityError(
                f"{path}: git blob id {blob} does not match the registry's {expected} for "
                f"{rel} (the file in the upstream tree at {UPSTREAM_COMMIT[:7]}). The file "
                f"is corrupt, modified or another version; fetch it again from "
                f"{UPSTREAM_URL}/{rel}.")
    elif expected is not None and digest != expected:
        raise DataIntegrityError(
            f"{path}: SHA256 {digest} does not match the registry's {expected} for {rel}. "
            f"The file is corrupt or was modified; fetch it again from "
            f"{UPSTREAM_URL}/{rel} (or restore your LIDIFF_DATA_DIR copy).")
    _VERIFIED[key] = digest
    return digest


def locate(name: str) -> Path | None:
    """Local copy of study file ``name`` (``$LIDIFF_DATA_DIR``, then the lidiff cache),
    hash-checked, or None when neither holds it; never downloads.

    Raises
    ------
    DataIntegrityError
        a local copy exists but its hash differs from the registry.
    """
    rel = _resolve_name(name)
    local = paths.data_dir()
    for p in ([local / rel] if local is not None else []) + [paths.CACHE / rel]:
        if p.is_file():
            _USED[rel] = _verify(p, rel, registry()[rel])
            return p
    return None


def fetch(name: str) -> Path:
    """Local path of study file ``name`` (upstream path or unique basename), hash-checked.

    Looks in ``$LIDIFF_DATA_DIR`` first, then downloads with pooch from the pinned
    upstream commit into :data:`lidiff_helpers.core.paths.CACHE`.

    Raises
    ------
    DataIntegrityError
        the file exists but its SHA256 differs from the registry (never used).
    DataUnavailableError
        the file is not available offline and could not be downloaded; the message names
        the file, its expected hash and where to get it.
    """
    found = locate(name)
    if found is not None:
        return found
    rel = _resolve_name(name)
    expected = registry()[rel]
    local = paths.data_dir()
    cached = paths.CACHE / rel
    url = f"{UPSTREAM_URL}/{rel}"
    try:
        import pooch

        sha = f"sha256:{expected}" if expected and not upstream_only(rel) else None
        got = Path(pooch.retrieve(url, known_hash=sha,
                                  fname=Path(rel).name, path=cached.parent, progressbar=False))
    except ValueError as exc:  # pooch: hash mismatch of the download
        raise DataIntegrityError(f"{rel}: downloaded file from {url} fails its hash check "
                                 f"(expected sha256 {expected}): {exc}") from exc
    except Exception as exc:  # noqa: BLE001 - network errors come in many types
        where = f"LIDIFF_DATA_DIR={local}" if local else "LIDIFF_DATA_DIR is not set"
        pinned = (f"git blob {expected[len(GIT_PIN):]}" if upstream_only(rel) and expected
                  else f"sha256 {expected}" if expected else "hash not pinned in the registry")
        note = ("" if not upstream_only(rel) else
                " This file is upstream only: the offline copy of the study data does not "
                "include it (see its README).")
        raise DataUnavailableError(
            f"study file {rel} is not available offline ({where}) and could not be "
            f"downloaded from {url} ({type(exc).__name__}).{note} Expected {pinned}. "
            f"Download it with network access, or put a copy at "
            f"$LIDIFF_DATA_DIR/{rel}.") from exc
    _USED[rel] = _verify(got, rel, expected)
    return got


# ----------------------------------------------------------------------------- frames

def _frame_problem(atoms, lif: bool) -> str | None:
    info, arrays = atoms.info, atoms.arrays
    if "REF_energy" not in info:
        return "missing REF_energy"
    if "REF_forces" not in arrays:
        return "missing REF_forces"
    e = np.asarray(info["REF_energy"], float)
    if e.size != 1 or not np.isfinite(e).all():
        return f"REF_energy is not a finite number ({info['REF_energy']!r})"
    f = np.asarray(arrays["REF_forces"], float)
    if f.shape != (len(atoms), 3):
        return f"REF_forces has shape {f.shape}, expected ({len(atoms)}, 3)"
    if not np.isfinite(f).all():
        bad = int(np.flatnonzero(~np.isfinite(f).all(axis=1))[0])
        return f"REF_forces not finite (NaN/inf) at atom {bad}"
    if "REF_stress" in info:
        s = np.asarray(info["REF_stress"], float).ravel()
        if s.size not in (6, 9):
            return f"REF_stress has {s.size} components, expected 6 or 9"
        if not np.isfinite(s).all():
            return "REF_stress not finite"
    elif lif:
        return "missing REF_stress"
    if lif:
        species = set(atoms.get_chemical_symbols())
        if not species <= {"Li", "F"}:
            return f"wrong species {sorted(species - {'Li', 'F'})} in a LiF frame (Li, F only)"
        if len(atoms) not in (216, 217):
            return f"{len(atoms)} atoms; LiF frames have 216 (bulk) or 217 (interstitial)"
        try:
            classify(atoms)
        except DataError as exc:
            return str(exc)
    return None


def read_frames(name_or_path: str | os.PathLike, lif: bool | None = None) -> list:
    """Read and validate a study file (or any extxyz path) into ASE ``Atoms``.

    Parameters
    ----------
    name_or_path : a registry name (fetched, hash-checked) or a path to an extxyz file
    lif : validate as LiF frames (species Li/F only, 216/217 atoms, REF_stress present);
        default: True unless the file is an MPtrj replay file.

    Each frame gets ``info["source"] = "<file>:<index>"`` and ``info["kind"]``
    (``bulk``/``interstitial`` for LiF). ``REF_stress`` is stored as a 3x3 array (eV/A^3).

    Raises
    ------
    DataError
        naming the file and frame index: truncated file, missing REF keys, NaN forces,
        wrong species or atom count.
    """
    import ase.io

    p = Path(name_or_path)
    if p.is_file():
        path, label = p, str(p)
    else:
        path = fetch(str(name_or_path))
        label = _resolve_name(str(name_or_path))
    if lif is None:
        lif = "mp_finetuning" not in path.name
    try:
        frames = ase.io.read(path, index=":", format="extxyz")
    except Exception as exc:  # noqa: BLE001 - ASE raises many types on bad files
        raise DataError(f"{label}: cannot be parsed as extxyz (truncated or corrupt?): "
                        f"{type(exc).__name__}: {exc}") from exc
    if not frames:
        raise DataError(f"{label}: no frames")
    for i, at in enumerate(frames):
        prob = _frame_problem(at, lif)
        if prob:
            raise DataError(f"{label}: frame {i}: {prob}")
        if "REF_stress" in at.info:
            s = np.asarray(at.info["REF_stress"], float).ravel()
            if s.size == 6:
                from ase.stress import voigt_6_to_full_3x3_stress

                s = voigt_6_to_full_3x3_stress(s)
            at.info["REF_stress"] = np.asarray(s, float).reshape(3, 3)
        at.info["REF_energy"] = float(at.info["REF_energy"])
        at.info["source"] = f"{label}:{i}"
        if lif:
            at.info["kind"] = classify(at)
    return frames


def frame_hash(atoms) -> str:
    """Content hash of a structure: species, positions (1e-4 A) and cell (1e-4 A).

    Identical structures written in different files get the same hash; labels are not
    part of it.
    """
    h = hashlib.sha256()
    h.update(np.asarray(atoms.numbers, np.int64).tobytes())
    h.update(np.round(np.asarray(atoms.positions, float) * 1e4).astype(np.int64).tobytes())
    h.update(np.round(np.asarray(atoms.cell.array, float) * 1e4).astype(np.int64).tobytes())
    return h.hexdigest()[:16]


def classify(atoms) -> str:
    """``bulk`` (n_Li == n_F) or ``interstitial`` (n_Li == n_F + 1) for a LiF cell."""
    z = np.asarray(atoms.numbers)
    n_li, n_f = int((z == 3).sum()), int((z == 9).sum())
    if n_li == n_f:
        return "bulk"
    if n_li == n_f + 1:
        return "interstitial"
    raise DataError(f"{n_li} Li and {n_f} F: neither bulk LiF nor LiF + 1 interstitial Li")


@dataclass(frozen=True)
class Pool:
    """Distinct frames (by :func:`frame_hash`) of a set of files, in a stable order."""

    frames: tuple
    hashes: tuple

    def __len__(self) -> int:
        return len(self.frames)

    def counts(self) -> dict[str, int]:
        kinds = [a.info["kind"] for a in self.frames]
        return {k: kinds.count(k) for k in ("bulk", "interstitial")}

    def by_hash(self) -> dict:
        return dict(zip(self.hashes, self.frames))


def _pool(files: Sequence[str]) -> Pool:
    seen: dict[str, object] = {}
    for name in files:
        for at in read_frames(name, lif=True):
            h = frame_hash(at)
            if h in seen:
                seen[h].info.setdefault("also_in", []).append(at.info["source"])
            else:
                at.info["hash"] = h
                seen[h] = at
    keys = sorted(seen)
    return Pool(frames=tuple(seen[k] for k in keys), hashes=tuple(keys))


@lru_cache(maxsize=4)
def lif_pool(source: str = "deepmd") -> Pool:
    """Deduplicated LiF frames of the study, sorted by content hash.

    ``deepmd``: the DeePMD-derived files available offline (671 distinct: 115 bulk, 556
    interstitial); ``mpa0``: the MACE-MPA-0 active-learning files (328 distinct).
    """
    files = {"deepmd": DEEPMD_FILES, "mpa0": MPA0_AL_FILES}.get(source)
    if files is None:
        raise ValueError(f"unknown pool {source!r}; use 'deepmd' or 'mpa0'")
    return _pool(files)


# ----------------------------------------------------------------------------- splits

def make_test_manifest(n_bulk: int = 20, n_interstitial: int = 100, seed: int = 20260101,
                       path: Path = paths.TEST_MANIFEST, overwrite: bool = False) -> Path:
    """Fix the held-out test set: a seeded draw from the DeePMD pool, saved as hashes.

    Refuses to overwrite an existing manifest unless ``overwrite=True`` (models trained
    against the old split would silently become invalid).
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; the held-out test set is fixed. "
                              "Pass overwrite=True only if you mean to redefine it.")
    pool = lif_pool("deepmd")
    rng = np.random.default_rng(seed)
    chosen = []
    for kind, n in (("bulk", n_bulk), ("interstitial", n_interstitial)):
        hs = [h for h, a in zip(pool.hashes, pool.frames) if a.info["kind"] == kind]
        chosen += sorted(rng.choice(hs, size=n, replace=False).tolist())
    body = {"description": "held-out LiF test set: content hashes (lidiff_helpers.io.data."
                           "frame_hash) of frames from the DeePMD-derived study files",
            "seed": seed, "n_bulk": n_bulk, "n_interstitial": n_interstitial,
            "upstream": f"{UPSTREAM_REPO}@{UPSTREAM_COMMIT}", "hashes": chosen}
    path.write_text(json.dumps(body, indent=1) + "\n")
    return path


def test_hashes(path: Path = paths.TEST_MANIFEST) -> frozenset:
    """Content hashes of the held-out test frames."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: held-out test manifest missing; it is committed "
                                "with the repository (make_test_manifest creates it)")
    return frozenset(json.loads(path.read_text())["hashes"])


test_hashes.__test__ = False  # not a pytest test
make_test_manifest.__test__ = False


def test_set(kind: str | None = None) -> list:
    """The held-out test frames (optionally only ``bulk`` or ``interstitial``)."""
    pool = lif_pool("deepmd").by_hash()
    held = sorted(test_hashes())
    missing = [h for h in held if h not in pool]
    if missing:
        raise DataError(f"{len(missing)} test-manifest frames not found in the study data "
                        f"(first: {missing[0]}); is the data the pinned version?")
    out = [pool[h] for h in held]
    return [a for a in out if kind is None or a.info["kind"] == kind]


test_set.__test__ = False


def training_subset(n_bulk: int, n_interstitial: int, seed: int, source: str = "deepmd",
                    exclude: Iterable[str] = ()) -> list:
    """A seeded draw of ``n_bulk`` + ``n_interstitial`` frames, disjoint from the test set.

    Like the study's Table 1 compositions (e.g. 10 bulk + 100 interstitial). The same
    arguments always return the same frames, in the same order.

    Raises
    ------
    DataError
        if the pool (minus the test set and ``exclude``) has too few frames; larger
        subsets need the upstream-only training files.
    """
    pool = lif_pool(source)
    banned = set(test_hashes()) | set(exclude)
    rng = np.random.default_rng(seed)
    out = []
    for kind, n in (("bulk", n_bulk), ("interstitial", n_interstitial)):
        hs = [h for h, a in zip(pool.hashes, pool.frames)
              if a.info["kind"] == kind and h not in banned]
        if n > len(hs):
            raise DataError(f"asked for {n} {kind} frames but only {len(hs)} distinct "
                            f"non-test {kind} frames are in the '{source}' pool; the larger "
                            f"Table 1 subsets need the upstream-only files "
                            f"{', '.join(Path(p).name for p in DEEPMD_UPSTREAM_ONLY)}")
        idx = rng.choice(len(hs), size=n, replace=False)
        out += [pool.by_hash()[hs[i]] for i in sorted(idx)]
    return out


# ----------------------------------------------------------------------------- LAMMPS

def read_lammps_data(name_or_path: str | os.PathLike):
    """Read one of the study's LAMMPS ``.data`` files (atom_style atomic, 1 = Li, 2 = F).

    Returns ASE ``Atoms`` with positions wrapped into the box and the image flags in
    ``atoms.arrays["image"]`` (so ``positions + image @ cell`` is the unwrapped frame);
    ``info["source"]`` names the file.
    """
    p = Path(name_or_path)
    if not p.is_file():
        key = STARTING_STRUCTURES.get(str(name_or_path), str(name_or_path))
        p = fetch(key)
    from ase import Atoms

    text = p.read_text().splitlines()
    n_atoms, box, atoms_at = None, {}, None
    for i, line in enumerate(text):
        s = line.split("#")[0].split()
        if len(s) == 2 and s[1] == "atoms":
            n_atoms = int(s[0])
        elif len(s) == 4 and s[2].endswith("lo") and s[3].endswith("hi"):
            box[s[2][0]] = (float(s[0]), float(s[1]))
        elif line.strip().startswith("Atoms"):
            atoms_at = i + 2
            break
    if n_atoms is None or atoms_at is None or set(box) != {"x", "y", "z"}:
        raise DataError(f"{p}: not a LAMMPS data file with an orthogonal box and Atoms section")
    rows = [ln.split() for ln in text[atoms_at:atoms_at + n_atoms]]
    if len(rows) < n_atoms or any(len(r) not in (5, 8) for r in rows):
        raise DataError(f"{p}: Atoms section truncated or not atom_style atomic")
    rows.sort(key=lambda r: int(r[0]))
    types = np.array([int(r[1]) for r in rows])
    if not set(types) <= {1, 2}:
        raise DataError(f"{p}: atom types {sorted(set(types))}; expected 1 = Li, 2 = F")
    lo = np.array([box[c][0] for c in "xyz"])
    lengths = np.array([box[c][1] - box[c][0] for c in "xyz"])
    pos = np.array([[float(x) for x in r[2:5]] for r in rows]) - lo
    img = (np.array([[int(x) for x in r[5:8]] for r in rows]) if len(rows[0]) == 8
           else np.zeros((n_atoms, 3), int))
    atoms = Atoms(numbers=np.where(types == 1, 3, 9), positions=pos, cell=np.diag(lengths),
                  pbc=True)
    atoms.arrays["image"] = img
    atoms.wrap()
    atoms.info["source"] = str(name_or_path)
    return atoms


def fetch_all(include_upstream_only: bool = False) -> dict[str, str]:
    """Fetch (or find) every pinned study file; returns path -> status text."""
    status = {}
    for rel in registry():
        if upstream_only(rel) and not include_upstream_only:
            status[rel] = "upstream only (fetched on demand)"
            continue
        try:
            fetch(rel)
            status[rel] = "ok"
        except DataUnavailableError as exc:
            status[rel] = f"MISSING: {exc}"
    return status


def summary_table():
    """One row per study file: path, frames kind, SHA256 status (a pandas DataFrame)."""
    import pandas as pd

    rows = []
    for rel, h in registry().items():
        try:
            fetch(rel)
            status = "verified"
        except DataUnavailableError:
            status = "upstream only" if upstream_only(rel) else "MISSING"
        rows.append({"file": rel, "hash": (h or "-")[:24], "status": status})
    return pd.DataFrame(rows)


def main() -> int:
    """``python -m lidiff_helpers.data`` (``make data``): fetch and hash-check every study
    file; exit status 1 when one is missing."""
    import sys

    st = fetch_all()
    bad = {k: v for k, v in st.items() if v.startswith("MISSING")}
    print(f"study data: {sum(v == 'ok' for v in st.values())} files verified by SHA256"
          f" ({UPSTREAM_REPO}@{UPSTREAM_COMMIT[:7]}, CC BY 4.0)")
    for k, v in bad.items():
        print(v, file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":  # python -m lidiff_helpers.data
    raise SystemExit(main())
