"""Provenance records: what produced a result file or figure.

Every executed notebook, table and figure carries one record (JSON beside it, and PNG
metadata for figures): profile and parameters, package versions, data-file hashes,
model identity (name and SHA256 of the weights file) and the compendium's git commit.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import platform
import subprocess
from collections.abc import Iterable, Mapping
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

from lidiff_helpers.core import paths

__all__ = [
    "TRACKED_PACKAGES",
    "git_commit",
    "now_utc",
    "package_versions",
    "record",
    "sha256_file",
    "sha256_file_cached",
    "write_record",
]

#: packages whose versions change results
TRACKED_PACKAGES = ("lidiff", "mace-torch", "torch", "ase", "numpy", "scipy", "e3nn",
                    "phonopy", "chgnet", "sevenn", "papermill", "matplotlib", "pooch")


def now_utc() -> str:
    """The current UTC time, ISO 8601 to the second (every record's timestamp)."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """SHA256 hex digest of a file, streamed."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


@lru_cache(maxsize=64)
def _sha256_at(path: str, mtime: float) -> str:
    return sha256_file(path)


def sha256_file_cached(path: str | Path) -> str:
    """:func:`sha256_file`, cached per path and modification time (a model file is hashed
    once per process however often it is resolved, and again when it changes)."""
    p = Path(path)
    return _sha256_at(str(p), p.stat().st_mtime)


def package_versions(names: Iterable[str] = TRACKED_PACKAGES) -> dict[str, str | None]:
    """Installed versions of ``names`` (None when not installed)."""
    out: dict[str, str | None] = {}
    for n in names:
        try:
            out[n] = metadata.version(n)
        except metadata.PackageNotFoundError:
            out[n] = None
    return out


def git_commit(root: Path = paths.ROOT) -> dict[str, Any]:
    """The compendium's git commit and whether the work tree had uncommitted changes."""
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                             text=True, timeout=10).stdout.strip() or None
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                                    cwd=root, capture_output=True, text=True,
                                    timeout=10).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        sha, dirty = None, None
    return {"commit": sha, "dirty": dirty}


def record(*, notebook: str | None = None, profile: str | None = None,
           parameters: Mapping[str, Any] | None = None,
           models: Iterable[Mapping[str, Any]] = (),
           data_files: Mapping[str, str] | None = None,
           extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Build a provenance record.

    Parameters
    ----------
    notebook, profile : what ran and under which profile
    parameters : the resolved parameters
    models : model identities, each a mapping with at least ``name`` and ``sha256``
        (see :func:`lidiff_helpers.simulation.models.model_identity`)
    data_files : study file path -> SHA256 actually read
    extra : anything else worth keeping (e.g. run timings)
    """
    return {
        "created_utc": now_utc(),
        "notebook": notebook,
        "profile": profile,
        "parameters": dict(parameters or {}),
        "models": [dict(m) for m in models],
        "data_files": dict(data_files or {}),
        "packages": package_versions(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "git": git_commit(),
        **({"extra": dict(extra)} if extra else {}),
    }


def write_record(target: str | Path, rec: Mapping[str, Any]) -> Path:
    """Write ``rec`` as ``<target>.provenance.json`` beside ``target``; returns its path."""
    target = Path(target)
    out = target.with_name(target.name + ".provenance.json")
    out.write_text(json.dumps(rec, indent=1, default=str))
    return out
