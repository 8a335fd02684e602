"""Models produced by one notebook and used by the next (02/03 -> 01, 04, 05).

``results/<tag>/models/registry.json`` maps a model name to its file, SHA256, the
notebook that made it and free metadata (strategy, data size, replay frames...).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

from lidiff_helpers.core.provenance import sha256_file

__all__ = ["register_model", "registered_models"]


def _path(out: Path) -> Path:
    return Path(out) / "models" / "registry.json"


def register_model(out: Path, name: str, model_path: Path, notebook: str,
                   meta: Mapping[str, Any] | None = None) -> dict:
    """Add (or replace) ``name`` in the registry of results folder ``out``."""
    reg_path = _path(out)
    reg_path.parent.mkdir(parents=True, exist_ok=True)
    reg = json.loads(reg_path.read_text()) if reg_path.exists() else {}
    model_path = Path(model_path).resolve()
    if not model_path.is_file():
        raise FileNotFoundError(f"cannot register {name}: {model_path} does not exist")
    entry = {"name": name, "path": str(model_path), "sha256": sha256_file(model_path),
             "notebook": notebook, **dict(meta or {})}
    reg[name] = entry
    reg_path.write_text(json.dumps(reg, indent=1, default=str))
    return entry


def registered_models(out: Path, notebook: str | None = None) -> list[dict]:
    """Registered models of results folder ``out`` (optionally from one notebook only),
    skipping entries whose file has gone."""
    reg_path = _path(out)
    if not reg_path.exists():
        return []
    reg = json.loads(reg_path.read_text())
    return [e for e in reg.values() if Path(e["path"]).is_file()
            and (notebook is None or e["notebook"] == notebook)]
