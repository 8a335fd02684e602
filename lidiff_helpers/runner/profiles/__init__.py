"""Parameter profiles: ``ci``, ``quick``, ``gpu`` and ``paper`` for every notebook.

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
``gpu``    one GPU in about 2 hours: notebook 04 runs the study's cells, temperatures and
           replicas (foundation + one fine-tuned model, 50 ps each, batched engine);
           notebooks 00-03 as ``quick`` (a YAML anchor), 05 analyses the grid.
``ci``     each notebook in at most 2 minutes; used by the tests.

Resolution: profile value, then explicit overrides (``papermill -p name value`` or the
runner's ``-p``). A name that no profile of that notebook declares is an error
(:class:`UnknownParameterError`), never a warning. Every value (profile sections and
overrides) is type-checked against its ``defaults`` value (:func:`check_type`): a string
where a number is expected raises :class:`ParameterError` naming the parameter and the
notebook; a ``null`` default accepts anything and an integer is accepted for a float.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

import yaml

from lidiff_helpers.core.errors import ParameterError, UnknownParameterError

__all__ = ["PROFILES", "UnknownParameterError", "ParameterError", "declared", "resolve",
           "notebook_names", "check_type"]

PROFILES = ("ci", "quick", "gpu", "paper")
_DIR = Path(__file__).resolve().parent

#: default's type -> (accepted types, words for the message)
_KINDS = ((bool, (bool,), "true or false"), (int, (int,), "an integer"),
          (float, (int, float), "a number"), (str, (str,), "a string"),
          (list, (list, tuple), "a list"), (dict, (dict,), "a mapping"))


def check_type(where: str, name: str, default: Any, value: Any) -> None:
    """Refuse ``value`` for parameter ``name`` unless it has its default's type.

    A ``None`` default accepts anything; an int is accepted where the default is a float;
    a bool is never a number.

    Raises
    ------
    ParameterError
        naming ``where`` (the notebook or profile file), the parameter, the expected kind
        and the value given.
    """
    if default is None:
        return
    for typ, accepted, words in _KINDS:
        if isinstance(default, typ):
            ok = isinstance(value, accepted) and (typ is bool or not isinstance(value, bool))
            if not ok:
                raise ParameterError(
                    f"{where}: parameter {name!r} must be {words} like its default "
                    f"{default!r}, got {value!r} ({type(value).__name__})")
            return


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
        if sec != "defaults":
            for k, v in (body or {}).items():
                check_type(f"{path} (section {sec!r})", k, data["defaults"][k], v)
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
    ParameterError
        if an override's type differs from the parameter's default (:func:`check_type`).
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
    defaults = declared(notebook)
    for k, v in overrides.items():
        check_type(f"notebook {notebook}", k, defaults[k], v)
    params.update(overrides)
    return params
