"""Model specs -> ASE calculators: the single interface to every force field.

    calc = get_calculator("auto")                  # MACE-MPA-0 if cached, else embedded
    calc = get_calculator("mace-mpa-0", device="cuda")
    calc = get_calculator("chgnet")                # CHGNet, weights ship with its wheel
    calc = get_calculator("results/quick/finetune/naive-110/model.model", dtype="float64")
    com = get_committee(["m1.model", "m2.model"]) ; com.forces_per_model(atoms)

Spec kinds
----------
``mace-mpa-0`` (the study's foundation model), ``mace-omat-0``, ``mace-mp-0``
(``mace-mp-0-medium``/``-small``): resolved through mace-torch's own loader and cache
(``mace.calculators.mace_mp``; ``$XDG_CACHE_HOME/mace`` or ``~/.cache/mace``); never a
hand-written downloader. ``chgnet``: CHGNet 0.3.0 universal potential (trained on MPtrj).
``embedded``: the compendium's own small MACE foundation model
(:mod:`lidiff_helpers.training.embedded`), committed under ``data/models/``. ``auto``: MACE-MPA-0
when its weights are in the cache (or downloadable), else ``embedded``; which one was
taken is printed and recorded in :func:`model_identity`. Anything else is a path to a
``.model`` file.
"""

from __future__ import annotations

import os
import pickle
import warnings
import zipfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np

from lidiff_helpers.core import paths
from lidiff_helpers.core.errors import ModelFileError, ModelUnavailableError
from lidiff_helpers.core.provenance import sha256_file

__all__ = ["FOUNDATION_MODELS", "ModelSpec", "ModelUnavailableError", "ModelFileError",
           "resolve_spec", "get_calculator", "model_identity", "Committee", "get_committee",
           "mace_cache_path"]

#: lidiff name -> mace-torch ``mace_mp(model=...)`` name
FOUNDATION_MODELS = {
    "mace-mpa-0": "medium-mpa-0",
    "mace-omat-0": "medium-omat-0",
    "mace-mp-0": "medium",
    "mace-mp-0-medium": "medium",
    "mace-mp-0-small": "small",
}
EMBEDDED = paths.MODELS / "lidiff-embedded.model"
#: first bytes of a file torch.save wrote: a zip archive (torch >= 1.6) or a raw pickle
_TORCH_MAGIC = (b"PK\x03\x04", b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")


@dataclass(frozen=True)
class ModelSpec:
    """A resolved model spec.

    Attributes
    ----------
    spec : what the user asked for (``auto``, ``embedded``, a path...)
    name : what it resolved to (``mace-mpa-0``, ``embedded``, ``chgnet``, file stem)
    kind : ``mace`` (a .model file) or ``chgnet``
    path : the weights file (None for chgnet, whose weights live in its wheel)
    note : why it resolved this way (e.g. the auto fallback reason)
    """

    spec: str
    name: str
    kind: str
    path: Path | None
    note: str = ""


def mace_cache_path(name: str) -> tuple[Path, str]:
    """Where mace-torch caches foundation model ``name``, and its download URL."""
    from mace.calculators import foundations_models as fm
    from mace.tools.utils import get_cache_dir

    key = FOUNDATION_MODELS[name]
    url = fm.mace_mp_urls[key]
    fname = "".join(c for c in os.path.basename(url) if c.isalnum() or c in "_")
    if key == "medium-mpa-0" and os.path.isfile(fm.local_model_path):
        return Path(fm.local_model_path), url
    return Path(get_cache_dir()) / fname, url


def _missing(name: str) -> ModelUnavailableError:
    cache, url = mace_cache_path(name)
    return ModelUnavailableError(
        f"{name}: weights not found at {cache} (mace-torch's cache) and not downloadable "
        f"here. They come from {url}; on a machine with internet run "
        f"`python -c \"from mace.calculators import mace_mp; mace_mp(model='"
        f"{FOUNDATION_MODELS[name]}')\"` once (or copy the file to that path), or use "
        f"foundation_model='embedded' offline.")


def _downloadable(url: str, timeout_s: float = 3.0) -> bool:
    if os.environ.get("LIDIFF_OFFLINE"):
        return False
    import urllib.request

    try:
        urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout_s)
        return True
    except Exception:  # noqa: BLE001 - any failure means "not downloadable now"
        return False


def resolve_spec(spec: str | os.PathLike = "auto", allow_download: bool = True) -> ModelSpec:
    """Resolve a spec without loading weights (see module docstring for the kinds).

    Raises
    ------
    ModelUnavailableError
        for a foundation model whose weights are missing (message names the model, the
        cache path mace expects and the URL), or a ``.model`` path that does not exist.
    ModelFileError
        for a path that is not a saved torch model (e.g. a text file).
    ValueError
        for an unknown name.
    """
    s = str(spec)
    low = s.lower()
    if low == "auto":
        cache, url = mace_cache_path("mace-mpa-0")
        if cache.is_file():
            return ModelSpec(s, "mace-mpa-0", "mace", cache, "auto: MACE-MPA-0 found in cache")
        if allow_download and _downloadable(url):
            return resolve_spec("mace-mpa-0")
        emb = resolve_spec("embedded")
        return ModelSpec(s, emb.name, emb.kind, emb.path,
                         f"auto: MACE-MPA-0 weights not in {cache} and not downloadable; "
                         "using the embedded foundation model")
    if low == "embedded":
        if not EMBEDDED.is_file():
            raise ModelUnavailableError(f"embedded model missing at {EMBEDDED}; it is "
                                        "committed with the repository (make embedded-model "
                                        "rebuilds it)")
        return ModelSpec(s, "embedded", "mace", EMBEDDED)
    if low == "chgnet":
        return ModelSpec(s, "chgnet", "chgnet", None, "CHGNet 0.3.0 (weights in the wheel)")
    if low in FOUNDATION_MODELS:
        cache, url = mace_cache_path(low)
        if cache.is_file():
            return ModelSpec(s, low, "mace", cache)
        if allow_download and _downloadable(url):
            from mace.calculators.foundations_models import download_mace_mp_checkpoint

            return ModelSpec(s, low, "mace",
                             Path(download_mace_mp_checkpoint(FOUNDATION_MODELS[low])))
        raise _missing(low)
    p = Path(s).expanduser()
    if p.suffix == ".model" or p.exists() or os.sep in s:
        if not p.is_file():
            raise ModelUnavailableError(f"model file {p} does not exist")
        _check_model_file(p)
        return ModelSpec(s, p.stem, "mace", p.resolve())
    raise ValueError(f"unknown model spec {s!r}: use auto, embedded, chgnet, "
                     f"{', '.join(FOUNDATION_MODELS)} or a path to a .model file")


def _check_model_file(path: Path) -> None:
    """Refuse a file that torch.save did not write (cheap: its first bytes)."""
    with open(path, "rb") as f:
        head = f.read(4)
    if not any(head.startswith(m) for m in _TORCH_MAGIC):
        raise ModelFileError(f"model file {path} is not a MACE model: it is not a saved torch "
                             f"model (first bytes {head!r}; expected a zip archive as written "
                             "by torch.save, e.g. a mace_run_train *.model file)")


@lru_cache(maxsize=64)
def _sha(path: str, mtime: float) -> str:
    return sha256_file(path)


def model_identity(spec: ModelSpec | str) -> dict:
    """Provenance of a model: spec, resolved name, weights path and SHA256."""
    m = spec if isinstance(spec, ModelSpec) else resolve_spec(spec)
    out = {"spec": m.spec, "name": m.name, "kind": m.kind, "note": m.note,
           "path": str(m.path) if m.path else None,
           "sha256": _sha(str(m.path), m.path.stat().st_mtime) if m.path else None}
    if m.kind == "chgnet":
        from importlib.metadata import version

        out["sha256"] = f"chgnet-{version('chgnet')}-pretrained-0.3.0"
    return out


def get_calculator(spec: str | os.PathLike | ModelSpec = "auto", device: str = "cpu",
                   dtype: str = "float64", head: str | None = None, verbose: bool = True):
    """An ASE calculator for a model spec.

    Parameters
    ----------
    spec : model spec (see module docstring) or a resolved :class:`ModelSpec`
    device : torch device (``cpu``, ``cuda``)
    dtype : ``float64`` (training/validation) or ``float32`` (faster MD)
    head : for multihead fine-tuned models, the head to evaluate (default: the first,
        the fine-tuned head in mace's convention)
    """
    m = spec if isinstance(spec, ModelSpec) else resolve_spec(spec)
    if verbose and m.note:
        print(f"[lidiff.models] {m.spec} -> {m.name}: {m.note}")
    if m.kind == "chgnet":
        from chgnet.model import CHGNet
        from chgnet.model.dynamics import CHGNetCalculator

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = CHGNet.load(verbose=False)
        return CHGNetCalculator(model=model, use_device=device, stress_weight=1 / 160.21766208)
    from mace.calculators import MACECalculator

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kw = {"head": head} if head else {}
        try:
            return MACECalculator(model_paths=str(m.path), device=device, default_dtype=dtype,
                                  **kw)
        except (RuntimeError, AttributeError, KeyError, EOFError, pickle.UnpicklingError,
                zipfile.BadZipFile) as exc:  # torch.load / not a MACE module
            raise ModelFileError(f"model file {m.path} could not be loaded as a MACE model "
                                 f"({type(exc).__name__}: {exc})") from exc


@dataclass
class Committee:
    """Several models evaluated on the same structures (active learning, Eq. 4)."""

    specs: list
    calculators: list = field(repr=False)

    def _per_model(self, atoms, getter) -> np.ndarray:
        out = []
        for calc in self.calculators:
            at = atoms.copy()
            at.calc = calc
            out.append(getter(at))
        return np.asarray(out)

    def forces_per_model(self, atoms) -> np.ndarray:
        """Forces of every member, shape (n_models, n_atoms, 3), eV/A."""
        return self._per_model(atoms, lambda at: at.get_forces())

    def energies_per_model(self, atoms) -> np.ndarray:
        """Potential energies of every member (n_models,), eV."""
        return self._per_model(atoms, lambda at: at.get_potential_energy())


def get_committee(specs: Sequence[str | os.PathLike], device: str = "cpu",
                  dtype: str = "float64") -> Committee:
    """Load several model files as one committee."""
    if len(specs) < 2:
        raise ValueError("a committee needs at least two models")
    resolved = [resolve_spec(s) for s in specs]
    return Committee(specs=[model_identity(m) for m in resolved],
                     calculators=[get_calculator(m, device, dtype, verbose=False)
                                  for m in resolved])
