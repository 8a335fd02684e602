"""Parameter profiles: ``ci``, ``quick`` and ``paper`` for every notebook.

One folder holds them: ``_common.yaml`` (parameters every notebook takes) and one
``NN_name.yaml`` per notebook. Each file has a ``defaults`` mapping and one mapping per
profile that overrides it::

    defaults:   {n_steps: 1000}
    ci:         {n_steps: 20}
    quick:      {}
    paper:      {n_steps: 9000000}

Profiles
--------
``paper``  the study's exact settings (1001-atom cells, 9 ns x 4 replicas, 800 epochs...).
``quick``  the whole compendium on 2 CPU cores in at most 30 minutes; figures say so.
``ci``     each notebook in at most 2 minutes; used by the tests.

Resolution: profile value, then explicit overrides (``papermill -p name value`` or the
runner's ``-p``). A name that no profile of that notebook declares is an error
(:class:`UnknownParameterError`), never a warning.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

import yaml

__all__ = ["PROFILES", "UnknownParameterError", "declared", "resolve", "notebook_names"]

PROFILES = ("ci", "quick", "paper")
_DIR = Path(__file__).resolve().parent


class UnknownParameterError(KeyError):
    """A parameter name that the notebook's profiles do not declare."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0])


@lru_cache(maxsize=None)
def _load(name: str) -> dict:
    path = _DIR / f"{name}.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"no profile file {path} (known notebooks: {notebook_names()})")
    data = yaml.safe_load(path.read_text()) or {}
    bad = set(data) - {"defaults", *PROFILES}
    if bad:
        raise ValueError(f"{path}: unknown top-level sections {sorted(bad)}; "
                         f"expected 'defaults' and {PROFILES}")
    for sec, body in data.items():
        extra = set(body or {}) - set(data.get("defaults") or {})
        if extra:
            raise ValueError(f"{path}: section '{sec}' sets {sorted(extra)} which are not "
                             "in 'defaults' (declare every parameter there)")
    return data


def notebook_names() -> list[str]:
    """Notebook stems that have a profile file, in execution order."""
    return sorted(p.stem for p in _DIR.glob("[0-9][0-9]_*.yaml"))


def declared(notebook: str) -> dict[str, Any]:
    """Every parameter the notebook takes, with its ``defaults`` value (common ones first)."""
    out = dict(_load("_common").get("defaults") or {})
    out.update(_load(notebook).get("defaults") or {})
    return out


def resolve(notebook: str, profile: str, overrides: Mapping[str, Any] | None = None) -> dict:
    """Parameters of ``notebook`` under ``profile`` with ``overrides`` applied.

    Raises
    ------
    UnknownParameterError
        if an override names a parameter the notebook does not declare.
    ValueError
        if ``profile`` is not one of :data:`PROFILES`.
    """
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose one of {PROFILES}")
    params = declared(notebook)
    for name in ("_common", notebook):
        params.update(_load(name).get(profile) or {})
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(params))
    if unknown:
        raise UnknownParameterError(
            f"{notebook}: unknown parameter(s) {unknown} for profile {profile!r}; "
            f"known: {sorted(params)}")
    params.update(overrides)
    return params
