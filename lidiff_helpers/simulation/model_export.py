"""Single-head copies of multihead MACE models, for consumers that take one head only.

A multihead fine-tuned model (``--multiheads_finetuning=True``) carries the fine-tuned head
(``Default`` in lidiff's runs) and the replay head ``pt_head``; mace-torch 0.3.16 stores them
as ``heads = ['pt_head', 'Default']``, and its LAMMPS wrapper (``LAMMPS_MACE``) and the
``mace_create_lammps_model`` prompt default to the *last* head, so neither "first" nor
"last" is a safe rule. LAMMPS'
``pair_style mace`` and other single-head consumers must get the fine-tuned head, so
:func:`export_head` writes a single-head copy with that head selected by mace-torch's own
code: the ``mace_select_head`` console script of the pinned mace-torch (0.3.16,
``mace/cli/select_head.py``, which calls ``mace.tools.scripts_utils.remove_pt_head``);
lidiff does not reimplement head selection. ASE/MD consumers need no copy: they evaluate a
head through ``MACECalculator(head=...)``
(:func:`lidiff_helpers.simulation.models.get_calculator`).

Default head: the first head that is not ``pt_head`` (the default of mace's
``remove_pt_head``; ``Default`` for lidiff's runs); never ``pt_head`` unless asked for. A
single-head model is returned unchanged (the original path, no copy).

The copy is named ``<stem>-<head>-<sha12>.model`` (``sha12``: the first 12 hex digits of
the source file's SHA256), written atomically (a temporary file, then a rename), with a
sidecar ``<copy>.json``: source path and SHA256, head, heads of the source, the copy's
SHA256 and the mace-torch version. An existing copy is reused only when its sidecar
matches (same source SHA256, head and mace-torch version, and the copy's SHA256 equal to
the recorded one); otherwise (a missing, unreadable or tampered sidecar, or a changed
copy) it is exported again and both files are overwritten.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from lidiff_helpers.core.errors import ModelFileError, ParameterError
from lidiff_helpers.core.provenance import sha256_file

__all__ = ["REPLAY_HEAD", "default_head", "export_head", "exported_head_path", "model_heads"]

#: name mace-torch gives the replay (pre-training) head of a multihead fine-tuned model
REPLAY_HEAD = "pt_head"
#: mace-torch's console script that writes a single-head copy of a multihead model
SELECT_HEAD_SCRIPT = "mace_select_head"


def _source(model_path: str | os.PathLike) -> Path:
    """The resolved model file (missing file or not a torch file: a core.errors error)."""
    from lidiff_helpers.simulation.models import resolve_spec

    return resolve_spec(str(Path(model_path).expanduser().resolve()),
                        allow_download=False).path


def model_heads(model_path: str | os.PathLike) -> tuple[str, ...]:
    """Head names of a MACE ``.model`` file (``("Default",)`` for a model without heads).

    Raises ModelUnavailableError for a missing file, ModelFileError for a file that is not
    a MACE model.
    """
    import warnings

    import torch

    src = _source(model_path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = torch.load(str(src), map_location="cpu", weights_only=False)
    except Exception as exc:  # torch.load and unpickling raise many kinds
        raise ModelFileError(f"model file {src} could not be loaded "
                             f"({type(exc).__name__}: {exc})") from exc
    if not hasattr(model, "atomic_energies_fn"):
        raise ModelFileError(f"model file {src} holds a {type(model).__name__}, not a MACE "
                             "model")
    return tuple(str(h) for h in (getattr(model, "heads", None) or ["Default"]))


def default_head(heads, where: str = "the model") -> str:
    """The fine-tuned head of ``heads``: the first that is not ``pt_head`` (mace's
    ``remove_pt_head`` default)."""
    for h in heads:
        if h != REPLAY_HEAD:
            return h
    raise ParameterError(f"{where} has no head besides the replay head {REPLAY_HEAD!r} "
                         f"(heads {list(heads)})")


def _chosen_head(src: Path, heads: tuple[str, ...], head: str | None) -> str:
    if head is None:
        return heads[0] if len(heads) == 1 else default_head(heads, f"model file {src}")
    if head not in heads:
        raise ParameterError(f"model file {src} has no head {head!r}; its heads are "
                             f"{list(heads)}")
    return head


def exported_head_path(model_path: str | os.PathLike, out_dir: str | os.PathLike,
                       head: str | None = None) -> Path:
    """The file :func:`export_head` returns for these arguments, without writing it (the
    original path for a single-head model)."""
    return _plan(model_path, out_dir, head)["out"]


def _plan(model_path, out_dir, head: str | None) -> dict:
    """Source file, its heads and SHA256 (None for one head), the chosen head, the copy."""
    src = _source(model_path)
    heads = model_heads(src)
    chosen = _chosen_head(src, heads, head)
    if len(heads) == 1:
        return {"src": src, "heads": heads, "head": chosen, "sha": None, "out": src}
    sha = sha256_file(src)
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", chosen)
    out = Path(out_dir).resolve() / f"{src.stem}-{safe}-{sha[:12]}.model"
    return {"src": src, "heads": heads, "head": chosen, "sha": sha, "out": out}


def _mace_version() -> str:
    from lidiff_helpers.simulation.models import _mace_version as version

    return version()


def _sidecar(out: Path) -> Path:
    return out.with_name(out.name + ".json")


def _reusable(out: Path, key: dict) -> bool:
    """True when ``out`` exists and its sidecar records ``key`` and the file's SHA256."""
    side = _sidecar(out)
    if not (out.is_file() and side.is_file()):
        return False
    try:
        rec = json.loads(side.read_text())
        same = all(rec.get(k) == v for k, v in key.items())
        return bool(same and rec.get("exported_sha256") == sha256_file(out))
    except (OSError, json.JSONDecodeError, AttributeError):
        return False


def _select_head(src: Path, head: str, tmp: Path) -> None:
    """Run mace-torch's ``mace_select_head`` (one head kept) from ``src`` into ``tmp``."""
    cmd = [str(Path(sys.executable).with_name(SELECT_HEAD_SCRIPT)), "--head_name", head,
           "--output_file", str(tmp), str(src)]
    res = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                         check=False)
    if res.returncode or not tmp.is_file():
        tmp.unlink(missing_ok=True)
        raise ModelFileError(f"{SELECT_HEAD_SCRIPT} failed for model file {src}, head "
                             f"{head!r} (exit {res.returncode}):\n{res.stderr[-2000:]}")
    got = model_heads(tmp)
    if got != (head,):
        tmp.unlink(missing_ok=True)
        raise ModelFileError(f"{SELECT_HEAD_SCRIPT} wrote heads {list(got)} for model file "
                             f"{src}, expected only {head!r}")


def export_head(model_path: str | os.PathLike, out_dir: str | os.PathLike,
                head: str | None = None) -> Path:
    """A single-head copy of a multihead MACE model with ``head`` selected.

    Parameters
    ----------
    model_path : the ``.model`` file (multihead or not)
    out_dir : folder of the copy and its sidecar JSON (created)
    head : head to keep; default: the fine-tuned head (the first that is not ``pt_head``)

    Returns
    -------
    Path of ``<stem>-<head>-<sha12>.model`` in ``out_dir`` (reused when its sidecar matches),
    or ``model_path`` itself (resolved) for a single-head model.

    Raises
    ------
    ParameterError
        ``head`` is not one of the model's heads (message: file, head, available heads).
    ModelUnavailableError, ModelFileError
        the file is missing, not a MACE model, or ``mace_select_head`` failed.
    """
    plan = _plan(model_path, out_dir, head)
    src, heads, chosen, out = plan["src"], plan["heads"], plan["head"], plan["out"]
    if out == src:
        return src
    key = {"source_sha256": plan["sha"], "head": chosen, "mace_torch": _mace_version()}
    if _reusable(out, key):
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    _select_head(src, chosen, tmp)
    os.replace(tmp, out)
    rec = {"source": str(src), **key, "source_heads": list(heads), "exported": str(out),
           "exported_sha256": sha256_file(out), "selected_by": SELECT_HEAD_SCRIPT}
    side_tmp = _sidecar(out).with_name(_sidecar(out).name + ".tmp")
    side_tmp.write_text(json.dumps(rec, indent=1) + "\n")
    os.replace(side_tmp, _sidecar(out))
    return out
