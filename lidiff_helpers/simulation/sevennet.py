"""SevenNet-0: a real universal force field that runs offline, as a zero-shot baseline.

SevenNet-0 (Park et al., J. Chem. Theory Comput. 20, 4857 (2024),
doi:10.1021/acs.jctc.4c00190) is an equivariant message-passing potential (NequIP
architecture, 5 A cutoff) trained on MPtrj, the same PBE/PBE+U Materials Project data as
MACE-MP-0 and the study's replay frames. The ``sevenn`` **0.10.4** wheel ships its weights
(``sevenn/pretrained_potentials/SevenNet_0__11Jul2024/checkpoint_sevennet_0.pth``), so it
is the foundation model this compendium can run where MACE-MPA-0's weights cannot be
downloaded. Measured here: its collinear knock-off barrier in 65-atom LiF is 0.245 eV
(DFT 0.25-0.27 eV), close to what the study reports for MACE-MPA-0, where the embedded
v1 model gives 0.036 eV.

Loading
-------
``sevenn`` 0.10.4 calls ``torch.load(..., weights_only=False)``, which unpickles the
checkpoint (runs whatever code a tampered file holds). lidiff instead

1. checks the checkpoint's SHA256 against :data:`CHECKPOINT_SHA256` (a mismatch is refused,
   naming the file, before anything is unpickled), then
2. loads it with ``weights_only=True`` and exactly the globals the file needs
   (:func:`safe_globals`: ``slice``, and numpy's array reconstruction for the
   ``shift``/``scale`` arrays of its config; torch's own names for them), scoped to that one
   call (and to the import of sevenn, whose e3nn 0.4.4 loads its own ``constants.pt``
   with torch's weights-only default and needs ``slice``): weights-only loading is never
   switched off and nothing is allowed process-wide.
   mace-torch sets ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` when imported; that variable only
   changes calls that do not pass ``weights_only``, and this one does.
3. builds the network with ``sevenn.util.model_from_checkpoint`` (a checkpoint dict) and
   wraps it in sevenn's own ASE calculator (``SevenNetCalculator(file_type=
   "model_instance")``).

Caveats: sevenn 0.11+ requires e3nn >= 0.5, which mace-torch 0.3.16 does not accept, so
the version is pinned. SevenNet-0's energies are on the MPtrj (VASP) reference, not the
study's Quantum ESPRESSO one: compare energies after removing a per-atom offset
(:mod:`lidiff_helpers.analysis.parity`). Its network is float32; ``dtype`` is accepted for
the common interface but does not change it. Licence: sevenn (code and the shipped
weights) is GPL-3.0; lidiff imports it, never copies it.
"""

from __future__ import annotations

import pickle
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from lidiff_helpers.core.errors import ModelFileError, ModelUnavailableError

__all__ = [
    "CHECKPOINT_SHA256",
    "NAME",
    "SEVENN_VERSION",
    "calculator",
    "checkpoint_path",
    "elements",
    "identity",
    "load_checkpoint",
    "safe_globals",
]

NAME = "sevennet-0"
#: the sevenn release whose wheel ships the checkpoint and accepts e3nn 0.4.4
SEVENN_VERSION = "0.10.4"
#: checkpoint inside the sevenn wheel (relative to the package)
CHECKPOINT = "pretrained_potentials/SevenNet_0__11Jul2024/checkpoint_sevennet_0.pth"
#: SHA256 of that file in the sevenn 0.10.4 wheel (measured: sha256sum of the installed file)
CHECKPOINT_SHA256 = "7052cb42b7b3be42b40b97fa0d21077a48c54b5548948fc4dcf346629f813c36"
LICENCE = "GPL-3.0 (sevenn package and its shipped SevenNet-0 weights)"
CITATION = ("Y. Park, J. Kim, S. Hwang, S. Han, J. Chem. Theory Comput. 20, 4857 (2024), "
            "doi:10.1021/acs.jctc.4c00190")


def _sevenn_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("sevenn")
    except PackageNotFoundError:
        return None


def checkpoint_path() -> Path:
    """The SevenNet-0 checkpoint shipped in the installed sevenn wheel.

    Raises
    ------
    ModelUnavailableError
        sevenn is not installed, is not version :data:`SEVENN_VERSION`, or lacks the file.
    """
    have = _sevenn_version()
    if have is None:
        raise ModelUnavailableError(
            f"{NAME}: the sevenn package is not installed; pip install sevenn=={SEVENN_VERSION} "
            "(its wheel ships the SevenNet-0 weights; later releases need e3nn >= 0.5, which "
            "mace-torch 0.3.16 does not accept)")
    if have != SEVENN_VERSION:
        raise ModelUnavailableError(
            f"{NAME}: sevenn {have} is installed, lidiff needs {SEVENN_VERSION} (the "
            f"checkpoint hash {CHECKPOINT_SHA256[:12]}... is recorded for that wheel); "
            f"pip install sevenn=={SEVENN_VERSION}")
    import importlib.util

    spec = importlib.util.find_spec("sevenn")
    path = Path(spec.origin).parent / CHECKPOINT
    if not path.is_file():
        raise ModelUnavailableError(f"{NAME}: {path} is missing from the sevenn {have} install")
    return path


@contextmanager
def safe_globals():
    """The globals SevenNet-0's checkpoint needs under ``torch.load(weights_only=True)``,
    allowed only inside this block: ``slice`` (its config) and numpy's ndarray
    reconstruction (its per-element ``shift``/``scale`` arrays, pickled under numpy 1's
    module name ``numpy.core.multiarray._reconstruct``)."""
    import numpy as np
    import torch

    allowed = [slice, np.ndarray, np.dtype,
               (np._core.multiarray._reconstruct, "numpy.core.multiarray._reconstruct")]
    allowed += [getattr(np.dtypes, n) for n in ("Float32DType", "Float64DType", "Int64DType")]
    with torch.serialization.safe_globals(allowed):
        yield


def load_checkpoint(path: str | Path, expected_sha256: str = CHECKPOINT_SHA256) -> dict:
    """Hash-check, then load a SevenNet checkpoint weights-only (see the module docstring).

    Raises
    ------
    ModelFileError
        the file's SHA256 differs from ``expected_sha256`` (nothing is unpickled), or it
        needs a global that weights-only loading refuses (it is not a plain checkpoint).
    """
    import torch

    from lidiff_helpers.core.provenance import sha256_file_cached

    path = Path(path)
    actual = sha256_file_cached(path)
    if actual != expected_sha256:
        raise ModelFileError(f"{NAME} checkpoint {path}: SHA256 {actual} differs from the "
                             f"recorded {expected_sha256} (sevenn {SEVENN_VERSION}'s file); "
                             "refused before loading (a .pth file can run code when unpickled)")
    try:
        with safe_globals():
            ck = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).split("\n")[-1][:300] or str(exc)[:300]
        raise ModelFileError(f"{NAME} checkpoint {path} needs more than weights-only loading "
                             f"allows ({first}); refused") from exc
    if not isinstance(ck, dict) or "model_state_dict" not in ck or "config" not in ck:
        raise ModelFileError(f"{NAME} checkpoint {path} is not a sevenn checkpoint "
                             "(no model_state_dict/config)")
    return ck


@lru_cache(maxsize=2)
def _model(path: str, mtime: float):
    import warnings

    with warnings.catch_warnings(), safe_globals():
        warnings.simplefilter("ignore")
        # importing sevenn imports e3nn, whose 0.4.4 loads its own constants.pt with
        # torch.load's default (weights-only since torch 2.6): it needs ``slice`` too
        from sevenn import util

        model, config = util.model_from_checkpoint(load_checkpoint(path))
    return model, config


def calculator(device: str = "cpu", path: str | Path | None = None):
    """sevenn's ASE calculator for SevenNet-0 (energy eV, forces eV/A, stress eV/A^3).

    The network is built once per process and shared (it is read-only in evaluation);
    ``device`` moves it.
    """
    import warnings

    path = Path(path) if path else checkpoint_path()
    model, _ = _model(str(path), path.stat().st_mtime)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from sevenn.sevennet_calculator import SevenNetCalculator

        return SevenNetCalculator(model=model, file_type="model_instance", device=device)


def elements(path: str | Path | None = None) -> frozenset:
    """Atomic numbers SevenNet-0 knows (its type map: 89 elements of MPtrj)."""
    path = Path(path) if path else checkpoint_path()
    _, config = _model(str(path), path.stat().st_mtime)
    return frozenset(int(z) for z in config["_type_map"])


def identity() -> dict:
    """Provenance fields of SevenNet-0 (checkpoint, hash, versions, licence, citation)."""
    return {"checkpoint": CHECKPOINT, "sha256": CHECKPOINT_SHA256,
            "sevenn_version": _sevenn_version(), "licence": LICENCE, "citation": CITATION}
