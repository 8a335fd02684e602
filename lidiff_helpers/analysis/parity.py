"""Parity of a force field with the study's DFT labels: energies, forces, stresses.

For frames labelled ``REF_energy`` (eV), ``REF_forces`` (eV/A) and ``REF_stress``
(eV/A^3, ASE sign: tension positive) the model's predictions are compared as

* energy per atom, meV/atom: ``e_i = (E_model,i - E_ref,i) / N_i - c``
* force components, meV/A: every Cartesian component of every atom
* stress components, GPa: the six Voigt components (xx yy zz yz xz xy)

with ``RMSE = sqrt(mean(e^2))`` and ``MAE = mean(|e|)``, reported for bulk and
interstitial frames separately (and together).

Energy reference offset ``c``
-----------------------------
The study's DFT is Quantum ESPRESSO with isolated-atom energies ``E0s`` Li -202.822 eV and
F -803.844 eV (:data:`lidiff_helpers.io.data.E0S_EV`): total energies on that scale are
about -500 eV/atom. Foundation models (MACE-MPA-0, the embedded model, CHGNet) are
trained on VASP/MPtrj energies, a few eV/atom, so their energies differ from the labels
by a near-constant amount per atom that says nothing about the model's accuracy. That
offset ``c = mean (E_model - E_ref) / N`` is removed **only** when the model's reference
differs from the DFT one (:func:`decide_energy_offset`); models fine-tuned with the
study's E0s are compared as they are (``c = 0``). The decision and its ground are
always reported.

When it is removed, ``c`` is taken per composition, i.e. separately for the bulk
(108 Li + 108 F) and the interstitial (109 Li + 108 F) frames. The two references
differ per *element* (QE Li ~ -203 eV, F ~ -804 eV per atom against a few eV in VASP), so
one constant per atom cannot serve both compositions: the extra Li changes the per-atom
offset by ~1.4 eV/atom (CHGNet on one test frame of each kind: +503.03 eV/atom bulk,
+501.63 eV/atom interstitial).
Within one composition a constant per atom is exactly a per-element offset, and the
metrics then measure the relative energies of the frames of that kind.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import units

from lidiff_helpers.io import data

__all__ = [
    "DEFAULT_OFFSET_THRESHOLD_EV_ATOM",
    "EnergyOffset",
    "Predictions",
    "decide_energy_offset",
    "mae",
    "model_e0s",
    "parity_metrics",
    "predict",
    "rmse",
    "select_frames",
]

#: |mean per-atom energy difference| (eV/atom) above which the model's energy reference
#: is taken to differ from the DFT one. The study's QE total energies of LiF are about
#: -503 eV/atom and VASP/MPtrj ones about -5 eV/atom (offset ~ 500 eV/atom), while a
#: model trained on the QE labels with the study's E0s stays within a few eV/atom even
#: when barely trained (the 2-epoch test model: +4.6 eV/atom). 50 sits between the two
#: on a log scale.
DEFAULT_OFFSET_THRESHOLD_EV_ATOM = 50.0
_VOIGT = ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))


def rmse(pred, ref) -> float:
    """Root-mean-square of ``pred - ref`` over all elements (same units as the inputs)."""
    d = np.asarray(pred, float) - np.asarray(ref, float)
    if d.size == 0:
        return float("nan")
    return float(np.sqrt(np.mean(d ** 2)))


def mae(pred, ref) -> float:
    """Mean absolute value of ``pred - ref`` over all elements."""
    d = np.asarray(pred, float) - np.asarray(ref, float)
    if d.size == 0:
        return float("nan")
    return float(np.mean(np.abs(d)))


def _voigt(s) -> np.ndarray:
    s = np.asarray(s, float)
    if s.shape == (6,):
        return s
    s = s.reshape(3, 3)
    return np.array([s[i, j] for i, j in _VOIGT])


@dataclass(frozen=True)
class Predictions:
    """Model predictions and DFT labels on a list of frames.

    Attributes
    ----------
    hashes, kinds : per frame (``bulk``/``interstitial``)
    n_atoms : atoms per frame
    energy_eV, ref_energy_eV : total energies (n_frames,), eV
    forces_eV_A, ref_forces_eV_A : all frames' forces concatenated (sum N_i, 3), eV/A
    stress_eV_A3, ref_stress_eV_A3 : Voigt stresses (n_frames, 6), eV/A^3
    """

    hashes: tuple
    kinds: tuple
    n_atoms: np.ndarray
    energy_eV: np.ndarray
    ref_energy_eV: np.ndarray
    forces_eV_A: np.ndarray
    ref_forces_eV_A: np.ndarray
    stress_eV_A3: np.ndarray
    ref_stress_eV_A3: np.ndarray

    def __len__(self) -> int:
        return len(self.hashes)

    def energy_per_atom_eV(self) -> tuple[np.ndarray, np.ndarray]:
        """(model, reference) energies per atom, eV/atom."""
        return self.energy_eV / self.n_atoms, self.ref_energy_eV / self.n_atoms

    def atom_mask(self, frame_mask: np.ndarray) -> np.ndarray:
        """Per-atom boolean mask of the frames selected by ``frame_mask``."""
        return np.repeat(np.asarray(frame_mask, bool), self.n_atoms)


def select_frames(frames: Sequence, n_frames: int | None, seed: int = 0) -> list:
    """A seeded, stratified subset: ``n_frames // 2`` bulk and the rest interstitial
    (fewer if a kind runs out; the other kind fills up). ``None`` keeps all frames.
    Order: bulk first, then interstitial, each in the input order.
    """
    if n_frames is None or n_frames >= len(frames):
        return list(frames)
    rng = np.random.default_rng(seed)
    by_kind = {k: [i for i, a in enumerate(frames) if a.info.get("kind") == k]
               for k in ("bulk", "interstitial")}
    want_bulk = min(len(by_kind["bulk"]), n_frames // 2)
    want_int = min(len(by_kind["interstitial"]), n_frames - want_bulk)
    want_bulk = min(len(by_kind["bulk"]), n_frames - want_int)
    pick = []
    for k, n in (("bulk", want_bulk), ("interstitial", want_int)):
        idx = by_kind[k]
        pick += sorted(rng.choice(idx, size=n, replace=False).tolist()) if n else []
    return [frames[i] for i in pick]


def _ref_arrays(frames: Sequence):
    e = np.array([float(a.info["REF_energy"]) for a in frames])
    f = np.concatenate([np.asarray(a.arrays["REF_forces"], float) for a in frames])
    s = np.array([_voigt(a.info["REF_stress"]) for a in frames])
    return e, f, s


def _save_npz(path: Path, **arrays) -> None:
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def predict(calc, frames: Sequence, cache: str | os.PathLike | None = None,
            cache_key: str = "", progress: bool = True, desc: str = "parity",
            save_every: int = 5) -> Predictions:
    """Evaluate ``calc`` on ``frames`` (energy, forces, stress), with a resumable cache.

    Parameters
    ----------
    calc : ASE calculator with stress
    frames : labelled frames (:func:`lidiff_helpers.io.data.test_set`); each needs
        ``info["hash"]`` (content hash) or gets one from :func:`data.frame_hash`
    cache : ``.npz`` file holding finished frames; frames already in it are not
        recomputed, new ones are added every ``save_every`` frames (killed runs resume)
    cache_key : identifies the model (e.g. weights SHA256 and dtype); a cache written
        with another key is ignored and overwritten
    """
    hashes = [a.info.get("hash") or data.frame_hash(a) for a in frames]
    done: dict[str, tuple] = {}
    cache = Path(cache) if cache else None
    if cache is not None and cache.is_file():
        z = np.load(cache, allow_pickle=False)
        if str(z["key"]) == cache_key:
            off = np.concatenate([[0], np.cumsum(z["n_atoms"])])
            for k, h in enumerate(z["hashes"]):
                done[str(h)] = (float(z["energy"][k]), z["forces"][off[k]:off[k + 1]],
                                z["stress"][k])

    def flush():
        if cache is None:
            return
        hs = list(done)
        cache.parent.mkdir(parents=True, exist_ok=True)
        _save_npz(cache, key=np.array(cache_key), hashes=np.array(hs),
                  n_atoms=np.array([len(done[h][1]) for h in hs]),
                  energy=np.array([done[h][0] for h in hs]),
                  forces=np.concatenate([done[h][1] for h in hs]) if hs else np.zeros((0, 3)),
                  stress=np.array([done[h][2] for h in hs]) if hs else np.zeros((0, 6)))

    todo = [k for k, h in enumerate(hashes) if h not in done]
    it = todo
    if progress and todo:
        from tqdm.auto import tqdm

        it = tqdm(todo, desc=desc, leave=False)
    for n, k in enumerate(it, 1):
        at = frames[k].copy()
        at.calc = calc
        e = float(at.get_potential_energy())
        f = np.asarray(at.get_forces(), float)
        s = _voigt(at.get_stress(voigt=True))
        if not (np.isfinite(e) and np.isfinite(f).all() and np.isfinite(s).all()):
            raise RuntimeError(f"{desc}: non-finite prediction on frame "
                               f"{frames[k].info.get('source', k)}")
        done[hashes[k]] = (e, f, s)
        if n % save_every == 0:
            flush()
    if todo:
        flush()
    re, rf, rs = _ref_arrays(frames)
    return Predictions(
        hashes=tuple(hashes), kinds=tuple(a.info.get("kind", "unknown") for a in frames),
        n_atoms=np.array([len(a) for a in frames]),
        energy_eV=np.array([done[h][0] for h in hashes]), ref_energy_eV=re,
        forces_eV_A=np.concatenate([done[h][1] for h in hashes]), ref_forces_eV_A=rf,
        stress_eV_A3=np.array([done[h][2] for h in hashes]), ref_stress_eV_A3=rs)


def model_e0s(calc) -> dict[str, float] | None:
    """Isolated-atom energies stored in a MACE calculator's model (eV, by element), for
    the head the calculator evaluates; None for models without them (e.g. CHGNet)."""
    try:
        model = calc.models[0]
        e0 = model.atomic_energies_fn.atomic_energies.detach().cpu().numpy()
        zs = [int(z) for z in model.atomic_numbers.detach().cpu().numpy()]
    except (AttributeError, IndexError):
        return None
    e0 = np.atleast_2d(e0)
    heads = list(getattr(calc, "available_heads", None) or ["Default"])
    head = getattr(calc, "head", None)
    row = heads.index(head) if head in heads and e0.shape[0] == len(heads) else 0
    from ase.data import chemical_symbols

    return {chemical_symbols[z]: float(e0[row, k]) for k, z in enumerate(zs)}


@dataclass(frozen=True)
class EnergyOffset:
    """Whether the per-atom energy offset was removed for a model, and why.

    Attributes
    ----------
    applied : the offset was subtracted from the model's energies per atom
    offset_eV_atom : mean (model - DFT) energy per atom over all frames, eV/atom (always
        computed; decides the ``offset magnitude`` rule)
    by_kind_eV_atom : the same mean per composition (``bulk``, ``interstitial``): what
        is subtracted from each frame when ``applied``
    method : ``requested`` (mode remove/keep), ``registry metadata``, or ``offset
        magnitude`` (the auto rule)
    reason : one sentence for the table
    metadata_agrees : whether the model's stored E0s tell the same (None: no E0s)
    """

    applied: bool
    offset_eV_atom: float
    by_kind_eV_atom: dict
    method: str
    reason: str
    metadata_agrees: bool | None = None

    def per_frame_eV_atom(self, kinds: Sequence[str]) -> np.ndarray:
        """What is subtracted from each frame's energy per atom (zeros if not applied)."""
        if not self.applied:
            return np.zeros(len(kinds))
        return np.array([self.by_kind_eV_atom[k] for k in kinds], float)

    def short(self) -> str:
        """Text for the table's ``energy_offset`` column."""
        if self.applied:
            per = ", ".join(f"{k} {v:+.5g}" for k, v in self.by_kind_eV_atom.items())
            head = f"removed per composition ({per} eV/atom)"
        else:
            head = f"not removed (mean offset {self.offset_eV_atom:+.4g} eV/atom)"
        return f"{head}; {self.method}: {self.reason}"


def decide_energy_offset(pred: Predictions, mode: str = "auto",
                         threshold_eV_atom: float = DEFAULT_OFFSET_THRESHOLD_EV_ATOM,
                         e0s: Mapping[str, float] | None = None,
                         energy_reference: str | None = None,
                         study_e0s: Mapping[str, float] = data.E0S_EV,
                         e0s_tol_eV: float = 0.01) -> EnergyOffset:
    """Decide whether to remove the per-model constant energy offset per atom.

    Parameters
    ----------
    pred : predictions of one model
    mode : ``remove`` or ``keep`` (forced, method ``requested``), or ``auto``:
        1. ``energy_reference`` given (registry metadata of a fine-tuned model:
           ``study`` = trained with the study's E0s on the QE labels, ``foreign`` =
           another reference): remove only for ``foreign``;
        2. otherwise by magnitude: remove when ``|offset| > threshold_eV_atom``.
    threshold_eV_atom : see :data:`DEFAULT_OFFSET_THRESHOLD_EV_ATOM`
    e0s : the model's stored E0s (:func:`model_e0s`), compared with ``study_e0s`` to
        report whether the metadata agrees with the decision (not used to decide, since a
        model fine-tuned on the QE labels with refitted E0s is still on their scale)
    """
    ep, er = pred.energy_per_atom_eV()
    offset = float(np.mean(ep - er))
    kinds = np.asarray(pred.kinds)
    by_kind = {str(k): float(np.mean((ep - er)[kinds == k])) for k in dict.fromkeys(pred.kinds)}
    agrees = None
    same_e0s = None
    if e0s:
        common = [el for el in study_e0s if el in e0s]
        if common:
            same_e0s = all(abs(e0s[el] - study_e0s[el]) < e0s_tol_eV for el in common)
    if mode == "remove":
        return EnergyOffset(True, offset, by_kind, "requested",
                            "offset removal forced (mode=remove)")
    if mode == "keep":
        return EnergyOffset(False, offset, by_kind, "requested",
                            "offset removal disabled (mode=keep)")
    if mode != "auto":
        raise ValueError(f"energy offset mode {mode!r}: use auto, remove or keep")
    if energy_reference is not None:
        ref = str(energy_reference).lower()
        if ref not in ("study", "foreign"):
            raise ValueError(f"registry energy_reference {energy_reference!r}: use "
                             "'study' or 'foreign'")
        applied = ref == "foreign"
        if same_e0s is not None:
            agrees = same_e0s != applied
        return EnergyOffset(applied, offset, by_kind, "registry metadata",
                            f"model registered with energy_reference={ref}", agrees)
    applied = abs(offset) > threshold_eV_atom
    if same_e0s is not None:
        agrees = same_e0s != applied
    cmp = ">" if applied else "<="
    txt = f"|mean offset| {cmp} {threshold_eV_atom:g} eV/atom"
    if same_e0s is not None:
        txt += ("; model E0s equal the study's QE E0s" if same_e0s
                else "; model E0s differ from the study's QE E0s")
    return EnergyOffset(applied, offset, by_kind, "offset magnitude", txt, agrees)


def parity_metrics(pred: Predictions, offset: EnergyOffset | None = None) -> list[dict]:
    """RMSE and MAE per frame kind (``bulk``, ``interstitial``, ``all``), energies after
    subtracting ``offset`` where it was applied (per composition).

    Returns rows with ``kind``, ``n_frames``, ``E_rmse_meV_atom``, ``E_mae_meV_atom``,
    ``F_rmse_meV_A``, ``F_mae_meV_A``, ``S_rmse_GPa``, ``S_mae_GPa``. When the offset was
    removed, a subset with no more frames than fitted offsets (e.g. a single bulk frame)
    has no energy information left: its energy metrics are NaN, not a trivial 0.
    """
    ep, er = pred.energy_per_atom_eV()
    if offset is not None:
        ep = ep - offset.per_frame_eV_atom(pred.kinds)
    kinds = np.asarray(pred.kinds)
    rows = []
    for kind in ("bulk", "interstitial", "all"):
        m = np.ones(len(kinds), bool) if kind == "all" else kinds == kind
        am = pred.atom_mask(m)
        n_fitted = len(set(kinds[m])) if (offset is not None and offset.applied) else 0
        e_ok = int(m.sum()) > n_fitted
        rows.append({
            "kind": kind, "n_frames": int(m.sum()),
            "E_rmse_meV_atom": 1e3 * rmse(ep[m], er[m]) if e_ok else float("nan"),
            "E_mae_meV_atom": 1e3 * mae(ep[m], er[m]) if e_ok else float("nan"),
            "F_rmse_meV_A": 1e3 * rmse(pred.forces_eV_A[am], pred.ref_forces_eV_A[am]),
            "F_mae_meV_A": 1e3 * mae(pred.forces_eV_A[am], pred.ref_forces_eV_A[am]),
            "S_rmse_GPa": rmse(pred.stress_eV_A3[m], pred.ref_stress_eV_A3[m]) / units.GPa,
            "S_mae_GPa": mae(pred.stress_eV_A3[m], pred.ref_stress_eV_A3[m]) / units.GPa,
        })
    return rows
