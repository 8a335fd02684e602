r"""Teacher-labelled LiF configurations: distilling a foundation model's view of LiF.

The embedded foundation model v2 (:mod:`lidiff_helpers.training.embedded`) learns Li-F
chemistry from a real universal potential, SevenNet-0 (the *teacher*,
:mod:`lidiff_helpers.simulation.sevennet`), instead of from the study's DFT frames, so
that, as MACE-MPA-0 in the study, the foundation roughly knows the interstitial defect
before any fine-tuning, and its zero-shot errors on the study's held-out DFT frames stay
honest (no study DFT frame of LiF is used).

Configurations (:func:`distillation_frames`, seeded, every frame tagged
``config_type``), rock-salt LiF at lattice constants around the study's 4.0834 A:

``bulk-strain``      2x2x2 bulk cells, isotropic strain of -6..+6 % and shear up to 1.5 %
``bulk-thermal``     2x2x2 and 3x3x3 bulk cells, thermal displacements at 300-1000 K
``interstitial``     2x2x2 and 3x3x3 cells + one Li near a tetrahedral site, thermal
``vacancy``          2x2x2 cells without one Li, without one F, or with a Li Frenkel pair
``path-<mechanism>`` 65-atom cells along straight-line paths of the knock-offs and the
                     direct hop (:func:`lidiff_helpers.simulation.neb.endpoints`), thermal
``contact``          close contacts (:func:`lidiff_helpers.training.embedded.close_contact_frames`)

Thermal displacements are independent Gaussians per atom and direction (an Einstein
picture, no MD needed): :math:`\sigma_s(T) = \sqrt{B_s / 8\pi^2}\,\sqrt{T / 295\,K}` with the
room-temperature Debye-Waller factors :math:`B_s` of LiF
(:data:`lidiff_helpers.core.units.LIF_DEBYE_WALLER_B_A2`). They miss the correlations of
real phonons; what matters here is that they cover the configurations MD visits.

Labels (:func:`label_frames`): energy (eV), forces (eV/A) and stress of the teacher,
written in chunks to ``<workdir>/chunk-NNN-<hash>.xyz``; a killed labelling resumes at
the first missing chunk, and a chunk whose frames changed is never reused (its name holds
their hash). The teacher's energies are on the MPtrj (VASP PBE) reference, the same as
the replay frames the embedded model is pretrained on.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from lidiff_helpers.core import units
from lidiff_helpers.core.errors import LabellingError, ParameterError

__all__ = [
    "RECIPE",
    "TEACHER",
    "distillation_frames",
    "frames_hash",
    "label_frames",
    "split_train_valid",
    "thermal_rattle",
    "thermal_sigma_A",
]

#: the teacher model spec
TEACHER = "sevennet-0"
#: frames per configuration kind and cell (conventional cells per edge); see module docstring
RECIPE: dict[str, dict] = {
    "bulk-strain": {"n": 60, "n_cells": 2},
    "bulk-thermal": {"n": 90, "n_cells": 2},
    "bulk-thermal-216": {"n": 24, "n_cells": 3},
    "interstitial": {"n": 120, "n_cells": 2},
    "interstitial-217": {"n": 36, "n_cells": 3},
    "vacancy": {"n": 45, "n_cells": 2},
    "path": {"n_per_mechanism": 24, "n_cells": 2},
    "contact": {"n": 48, "n_cells": 2},
}
#: temperatures (K) of the thermal displacements, drawn uniformly per frame
T_RANGE_K = (300.0, 1000.0)
#: lattice constants (A) drawn uniformly for the thermal frames (around the study's 4.0834)
A_RANGE_A = (4.00, 4.12)
#: straight-line path fractions are drawn in [0, 1]; the mechanisms of the path frames
MECHANISMS = ("knockoff-collinear", "knockoff-70deg", "knockoff-109deg", "direct")


def thermal_sigma_A(symbol: str, temperature_K: float) -> float:
    """Per-direction RMS thermal displacement (A) of ``symbol`` in LiF at ``temperature_K``
    from the room-temperature Debye-Waller factor, scaled classically (sigma^2 ~ T)."""
    b = units.LIF_DEBYE_WALLER_B_A2[symbol]
    return float(np.sqrt(b / (8 * np.pi ** 2) * temperature_K / units.LIF_DEBYE_WALLER_T_K))


def thermal_rattle(atoms, temperature_K: float, rng: np.random.Generator):
    """A copy of ``atoms`` with Gaussian thermal displacements at ``temperature_K``."""
    at = atoms.copy()
    sig = np.array([thermal_sigma_A(s, temperature_K) for s in at.get_chemical_symbols()])
    at.positions = at.positions + rng.normal(0.0, 1.0, at.positions.shape) * sig[:, None]
    return at


def _tag(at, kind: str, T: float | None, **extra):
    at.wrap()
    dm = at.get_all_distances(mic=True)
    np.fill_diagonal(dm, np.inf)
    at.info.update({"config_type": kind, "temperature_K": T,
                    "min_distance_A": round(float(dm.min()), 4), **extra})
    return at


def _bulk(n_cells: int, a_A: float):
    from lidiff_helpers.simulation.structures import lif_supercell

    return lif_supercell(n_cells, a_A=a_A, interstitial="none")


#: the interstitial of the ``interstitial`` frames is redrawn until it is at least this far
#: (A) from every lattice atom before the thermal displacements (tetrahedral site: 1.77 A)
MIN_INTERSTITIAL_DISTANCE_A = 1.35


def _interstitial(n_cells: int, a_A: float, rng):
    """Bulk + one Li near a tetrahedral site of a random conventional cell (Gaussian offset
    of 0.35 A per direction, redrawn while closer than :data:`MIN_INTERSTITIAL_DISTANCE_A`
    to a lattice atom)."""
    from ase import Atoms

    base = _bulk(n_cells, a_A)
    while True:
        corner = rng.integers(0, n_cells, 3)
        site = (corner + 0.25 + 0.5 * rng.integers(0, 2, 3)) * a_A + rng.normal(0.0, 0.35, 3)
        at = base + Atoms("Li", positions=[site])
        if at.get_distances(len(at) - 1, range(len(base)), mic=True).min() \
                >= MIN_INTERSTITIAL_DISTANCE_A:
            return at


def _vacancy(n_cells: int, a_A: float, rng, variant: str):
    at = _bulk(n_cells, a_A)
    sym = np.array(at.get_chemical_symbols())
    if variant in ("Li", "F"):
        del at[int(rng.choice(np.flatnonzero(sym == variant)))]
        return at
    # Frenkel pair: a Li moved from its site to a tetrahedral site >= a away
    i = int(rng.choice(np.flatnonzero(sym == "Li")))
    start = at.positions[i].copy()
    for _ in range(100):
        corner = rng.integers(0, n_cells, 3)
        site = (corner + 0.25 + 0.5 * rng.integers(0, 2, 3)) * a_A
        if np.linalg.norm(site - start) >= a_A:
            break
    at.positions[i] = site
    return at


def distillation_frames(seed: int = 0, recipe: dict | None = None) -> list:
    """The unlabelled configurations of the distillation set (deterministic in ``seed``).

    Returns ase.Atoms with ``info``: ``config_type``, ``temperature_K`` (None: none),
    ``min_distance_A``; strain and path frames also ``strain`` / ``path_fraction``.
    """
    from lidiff_helpers.simulation.neb import endpoints
    from lidiff_helpers.training.embedded import close_contact_frames

    r = {**RECIPE, **(recipe or {})}
    rng = np.random.default_rng(seed)
    out = []

    def T():
        return float(rng.uniform(*T_RANGE_K))

    def a():
        return float(rng.uniform(*A_RANGE_A))

    for _ in range(r["bulk-strain"]["n"]):
        at = _bulk(r["bulk-strain"]["n_cells"], units.LIF_A_STUDY_A)
        eps = float(rng.uniform(-0.06, 0.06))
        strain = np.eye(3) * (1 + eps) + np.triu(rng.uniform(-0.015, 0.015, (3, 3)), 1)
        at.set_cell(at.cell.array @ strain, scale_atoms=True)
        t = float(rng.uniform(0.0, 400.0))
        out.append(_tag(thermal_rattle(at, t, rng), "bulk-strain", t, strain=round(eps, 4)))
    for key in ("bulk-thermal", "bulk-thermal-216"):
        for _ in range(r[key]["n"]):
            t = T()
            out.append(_tag(thermal_rattle(_bulk(r[key]["n_cells"], a()), t, rng),
                            "bulk-thermal", t))
    for key in ("interstitial", "interstitial-217"):
        for _ in range(r[key]["n"]):
            t = T()
            at = thermal_rattle(_interstitial(r[key]["n_cells"], a(), rng), t, rng)
            out.append(_tag(at, "interstitial", t))
    variants = ("Li", "F", "frenkel")
    for k in range(r["vacancy"]["n"]):
        t = T()
        at = _vacancy(r["vacancy"]["n_cells"], a(), rng, variants[k % 3])
        out.append(_tag(thermal_rattle(at, t, rng), f"vacancy-{variants[k % 3]}", t))
    for mech in MECHANISMS:
        ini, fin, _ = endpoints(mech, r["path"]["n_cells"], units.LIF_A_STUDY_A)
        for _ in range(r["path"]["n_per_mechanism"]):
            x = float(rng.uniform(0.0, 1.0))
            at = ini.copy()
            at.positions = (1 - x) * ini.positions + x * fin.positions
            t = float(rng.uniform(0.0, 600.0))
            out.append(_tag(thermal_rattle(at, t, rng), f"path-{mech}", t,
                            path_fraction=round(x, 4)))
    for at in close_contact_frames(r["contact"]["n"], seed=seed + 1,
                                   reps=r["contact"]["n_cells"]):
        out.append(_tag(at, "contact", None, contact=at.info["contact"]))
    return out


def frames_hash(frames: Sequence) -> str:
    """SHA256 of the frames' numbers, cells and positions (rounded to 1e-8 A)."""
    h = hashlib.sha256()
    for at in frames:
        h.update(np.asarray(at.numbers, np.int64).tobytes())
        h.update(np.round(np.asarray(at.cell.array, float), 8).tobytes())
        h.update(np.round(np.asarray(at.positions, float), 8).tobytes())
    return h.hexdigest()


def label_frames(frames: Sequence, workdir: str | Path, teacher: str = TEACHER,
                 chunk: int = 16, progress: bool = True) -> list:
    """Label ``frames`` with ``teacher`` (energy, forces, stress), resumably.

    Chunks of ``chunk`` frames are written to ``<workdir>/chunk-NNN-<hash12>.xyz`` as they
    finish; existing chunks are read back. ``<workdir>/labels.json`` records the teacher's
    identity and the frames' hash. Returns the labelled frames in input order.

    Raises
    ------
    LabellingError
        the folder holds labels of another teacher (its labels.json says so).
    """
    import ase.io

    from lidiff_helpers.simulation import models
    from lidiff_helpers.training import mace_train as training
    from lidiff_helpers.training.labelling import SurrogateLabeller

    if chunk < 1:
        raise ParameterError(f"chunk must be >= 1 (frames per saved file), got {chunk}")
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    ident = models.model_identity(teacher)
    meta = workdir / "labels.json"
    if meta.is_file():
        old = json.loads(meta.read_text())
        if old.get("teacher_sha256") != ident["sha256"]:
            raise LabellingError(f"{meta}: labels of teacher {old.get('teacher')} "
                                 f"({str(old.get('teacher_sha256'))[:12]}), not {teacher} "
                                 f"({ident['sha256'][:12]}); use another workdir")
    meta.write_text(json.dumps({"teacher": teacher, "teacher_sha256": ident["sha256"],
                                "teacher_identity": ident, "n_frames": len(frames),
                                "frames_sha256": frames_hash(frames)}, indent=1, default=str))
    pieces = [list(frames[i:i + chunk]) for i in range(0, len(frames), chunk)]
    labeller = None
    out = []
    it = enumerate(pieces)
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(it, total=len(pieces), desc=f"labelling ({teacher})", unit="chunk")
    keep = ("REF_energy", "REF_stress", "config_type", "temperature_K", "min_distance_A",
            "strain", "path_fraction", "contact", "label_source")
    for k, piece in it:
        path = workdir / f"chunk-{k:03d}-{frames_hash(piece)[:12]}.xyz"
        if not path.is_file():
            labeller = labeller or SurrogateLabeller.from_spec(teacher, dtype="float64")
            lab = labeller.label(piece)
            for at in lab:
                at.info["REF_stress"] = np.asarray(at.info["REF_stress"], float).ravel()
            tmp = path.with_suffix(".tmp.xyz")
            training.write_extxyz(lab, tmp, info_keep=keep)
            tmp.replace(path)
        out += ase.io.read(path, ":")
    return out


def split_train_valid(frames: Sequence, valid_fraction: float = 0.1, seed: int = 0
                      ) -> tuple[list, list]:
    """Seeded split, stratified by ``config_type`` (every kind in both sets)."""
    if not 0.0 < valid_fraction < 1.0:
        raise ParameterError(f"valid_fraction must be in (0, 1), got {valid_fraction}")
    rng = np.random.default_rng(seed)
    kinds = np.array([at.info.get("config_type", "?") for at in frames])
    valid = set()
    for k in sorted(set(kinds)):
        idx = np.flatnonzero(kinds == k)
        n = max(1, int(round(valid_fraction * len(idx))))
        valid.update(int(i) for i in rng.choice(idx, n, replace=False))
    return ([at for i, at in enumerate(frames) if i not in valid],
            [at for i, at in enumerate(frames) if i in valid])
