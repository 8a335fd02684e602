"""The on-disk caches of lidiff: keyed JSON files and keyed array files.

:func:`cached_json` stores a JSON result together with the key it was computed from
(everything the result depends on: model SHA256, parameters); a later call with the same
key loads it, a changed key recomputes. Files are written atomically (a temporary file,
then a rename; each writer its own temporary file), so a killed notebook leaves the old or
the new result, never half of one, a rerun resumes from the finished steps, and two
threads or processes computing the same entry at once both succeed (the last rename wins;
both wrote the same result).

:func:`cached_call` wraps ``func(calc, **kwargs)`` for functions returning a result
dataclass with ``to_dict``/``from_dict`` (the return annotation names the class); ASE
``Atoms`` arguments enter the key by content hash.

:func:`cached_arrays` is the same for a set of numpy arrays (an ``.npz`` file).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["cached_json", "cached_arrays", "cached_call", "key_hash", "key_value"]


def key_hash(key: Mapping) -> str:
    """SHA256 of a cache key (JSON with sorted keys)."""
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()


def _json_default(o):
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def _private_tmp(path: Path, suffix: str) -> Path:
    """A temporary file beside ``path`` that no other process or thread writes."""
    return path.with_name(f"{path.name}.{os.getpid()}-{threading.get_ident()}{suffix}")


def cached_json(path: str | os.PathLike, key: Mapping[str, Any],
                compute: Callable[[], Mapping]) -> dict:
    """Load ``path`` if it was computed with the same ``key``, else compute and store.

    ``key`` holds everything the result depends on (model SHA256, parameters); a changed
    key recomputes. A corrupt or foreign file is recomputed (and overwritten).
    """
    path = Path(path)
    want = key_hash(key)
    if path.is_file():
        try:
            body = json.loads(path.read_text())
            if body.get("key_sha256") == want:
                return body["result"]
        except (json.JSONDecodeError, KeyError, AttributeError):
            pass  # corrupt or foreign file: recompute
    result = dict(compute())
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _private_tmp(path, ".tmp")
    tmp.write_text(json.dumps({"key": dict(key), "key_sha256": want, "result": result},
                              indent=1, default=_json_default))
    os.replace(tmp, path)
    return json.loads(json.dumps(result, default=_json_default))


def key_value(v):
    """A JSON-able stand-in for a cache-key value: ASE ``Atoms`` by formula and a hash of
    numbers, positions (1e-4 A), cell and pbc; arrays as lists."""
    if hasattr(v, "get_chemical_formula") and hasattr(v, "cell"):
        content = {"numbers": np.asarray(v.numbers).tolist(),
                   "positions_A": np.round(np.asarray(v.positions, float), 4).tolist(),
                   "cell_A": np.round(np.asarray(v.cell.array, float), 4).tolist(),
                   "pbc": np.asarray(v.pbc, bool).tolist()}
        return f"Atoms:{v.get_chemical_formula()}:{key_hash(content)[:16]}"
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, (list, tuple)):
        return [key_value(x) for x in v]
    return v


def cached_call(path: str | os.PathLike, model_key: str, func: Callable, calc, **kwargs):
    """``func(calc, **kwargs)`` cached in the JSON file ``path``.

    ``func`` returns a result dataclass with ``to_dict``/``from_dict`` (its return
    annotation names it); the cache key is the function's module and name, ``model_key``
    (label and weights SHA256) and the keyword arguments (:func:`key_value`), so a changed
    parameter or model recomputes and an interrupted notebook resumes from the finished
    steps.

    Raises
    ------
    TypeError
        ``func`` has no return annotation naming a class with ``from_dict``.
    """
    try:
        cls = typing.get_type_hints(func).get("return")
    except Exception:  # noqa: BLE001 - unresolvable annotations: reported below
        cls = None
    if not hasattr(cls, "from_dict"):
        raise TypeError(f"cached_call: {func.__qualname__} must be annotated to return a "
                        "result class with to_dict/from_dict")
    key = {"func": f"{func.__module__}.{func.__qualname__}", "model": model_key,
           **{k: key_value(v) for k, v in kwargs.items()}}
    return cls.from_dict(cached_json(path, key, lambda: func(calc, **kwargs).to_dict()))


def cached_arrays(path: str | os.PathLike, key: Mapping[str, Any],
                  compute: Callable[[], Mapping[str, Any]]) -> dict[str, np.ndarray]:
    """Arrays of ``compute()`` stored in the ``.npz`` file ``path`` with ``key``; loaded
    instead of recomputed when the file holds the same key (see :func:`cached_json`)."""
    path = Path(path)
    want = key_hash(key)
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as z:
                if str(z["__key_sha256__"]) == want:
                    return {k: z[k] for k in z.files if k != "__key_sha256__"}
        except (OSError, ValueError, KeyError):
            pass  # corrupt or foreign file: recompute
    arrays = {k: np.asarray(v) for k, v in compute().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _private_tmp(path, ".tmp.npz")
    np.savez(tmp, __key_sha256__=np.array(want), **arrays)
    os.replace(tmp, path)
    return arrays
