"""Labelling frames for active learning: DFT (Quantum ESPRESSO) or a surrogate model.

One interface, ``labeller.label(frames) -> frames``: every returned frame is a copy of
the input structure carrying ``info["REF_energy"]`` (eV), ``arrays["REF_forces"]``
(eV/A), ``info["REF_stress"]`` (3x3, eV/A^3, ASE sign convention, as in the study's
files) and ``info["label_source"]`` saying where the labels came from.

:class:`QuantumEspressoLabeller`
    the study's reference method (its Section 2.4): ``pw.x`` through ASE's ``Espresso``
    calculator with PBE, PAW pseudopotentials (pslibrary 1.0.0
    ``Li.pbe-s-kjpaw_psl.1.0.0.UPF`` and ``F.pbe-n-kjpaw_psl.1.0.0.UPF`` by default,
    generated with ``ld1.x`` by :mod:`lidiff_helpers.training.pseudopotentials` when no
    ``pseudo_dir`` is given; directory and names configurable), the Gamma point only,
    ``ecutwfc`` = 110 Ry, ``ecutrho`` = 440 Ry, ``conv_thr`` = 5e-7 Ry, Gaussian smearing
    of 0.005 Ry, forces and stress printed. ``label_source = "dft:qe-pw.x"``. Each frame runs in its own
    folder named by its content hash and a hash of the settings (``labels.npz`` holds the
    finished labels); a frame
    already labelled there is read back, so an interrupted labelling resumes. A 217-atom frame at these settings is hours of
    CPU per SCF: run it on a cluster (``command="mpirun -np 64 pw.x"``).
:class:`SurrogateLabeller`
    any ASE calculator standing in for DFT (e.g. a fine-tuned model), for offline,
    teaching runs of the active-learning loop. ``label_source =
    "surrogate:<model name>"``; results and figures built from such labels must say so
    (:func:`label_sources` collects them).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from lidiff_helpers.core import paths
from lidiff_helpers.core.errors import LabellingError

__all__ = ["DFT_STATE", "STUDY_QE_SETTINGS", "STUDY_PSEUDOPOTENTIALS", "LabellingError",
           "LabellingInterrupted", "copy_finished_labels", "finished_frames",
           "labeller_calculator",
           "QuantumEspressoLabeller", "SurrogateLabeller", "label_sources", "make_labeller",
           "resolve_surrogate", "pw_available"]

#: the study's pw.x settings (Ry units, as pw.x takes them)
STUDY_QE_SETTINGS: dict[str, Any] = {
    "calculation": "scf",
    "input_dft": "PBE",
    "ecutwfc": 110.0,
    "ecutrho": 440.0,
    "conv_thr": 5e-7,
    "occupations": "smearing",
    "smearing": "gaussian",
    "degauss": 0.005,
    "tprnfor": True,
    "tstress": True,
}
#: committed finished pw.x runs (labels, input, output; no wavefunctions), one subfolder
#: per work folder (:func:`copy_finished_labels`;
#: :data:`lidiff_helpers.workflows.dft_reference.STATE`)
DFT_STATE = paths.DATA / "dft" / "pw-labels"
#: pslibrary 1.0.0 PAW datasets (PBE) of the study, by element
STUDY_PSEUDOPOTENTIALS = {"Li": "Li.pbe-s-kjpaw_psl.1.0.0.UPF",
                          "F": "F.pbe-n-kjpaw_psl.1.0.0.UPF"}


def _frame_name(atoms, i: int) -> str:
    return str(atoms.info.get("source") or atoms.info.get("hash") or f"frame {i}")


def _store(atoms, energy: float, forces, stress, source: str):
    """A clean copy of ``atoms`` with REF labels (stress given as Voigt-6 or 3x3)."""
    from ase import Atoms
    from ase.stress import voigt_6_to_full_3x3_stress

    out = Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell,
                pbc=atoms.pbc)
    out.info.update({k: v for k, v in atoms.info.items()
                     if k not in ("REF_energy", "REF_stress", "label_source")})
    s = np.asarray(stress, float).ravel()
    s = voigt_6_to_full_3x3_stress(s) if s.size == 6 else s.reshape(3, 3)
    out.info["REF_energy"] = float(energy)
    out.info["REF_stress"] = np.asarray(s, float)
    out.arrays["REF_forces"] = np.asarray(forces, float).reshape(len(atoms), 3)
    out.info["label_source"] = source
    return out


def _check_labels(at, name: str, where: str) -> None:
    e = at.info["REF_energy"]
    f = at.arrays["REF_forces"]
    s = at.info["REF_stress"]
    if not (np.isfinite(e) and np.isfinite(f).all() and np.isfinite(s).all()):
        raise LabellingError(f"{where}: {name}: non-finite energy/forces/stress")


def label_sources(frames: Iterable) -> list[str]:
    """Distinct ``label_source`` values of ``frames`` (``unknown`` when missing), sorted."""
    return sorted({str(a.info.get("label_source", "unknown")) for a in frames})


#: pw.x keywords that change how a run is done, not its labels (not in the settings hash)
_BOOKKEEPING = ("pseudo_dir", "max_seconds", "restart_mode", "outdir", "prefix")
#: what pw.x prints when it stops at ``max_seconds``
_MAX_TIME = "Maximum CPU time exceeded"


class LabellingInterrupted(LabellingError):
    """pw.x stopped at ``max_seconds``; labelling the same frame again continues it."""


# ----------------------------------------------------------------------------- surrogate

@dataclass
class SurrogateLabeller:
    """Labels from an ASE calculator standing in for DFT.

    Parameters
    ----------
    calculator : any ASE calculator giving energy, forces and stress
    name : model name recorded in ``label_source = "surrogate:<name>"``
    spec : the model spec it was made from (for provenance), if any
    """

    calculator: Any = field(repr=False)
    name: str = "model"
    spec: str | None = None

    @classmethod
    def from_spec(cls, spec: str, device: str = "cpu", dtype: str = "float64",
                  name: str | None = None) -> "SurrogateLabeller":
        """A surrogate labeller for a model spec (:func:`lidiff_helpers.simulation.models.get_calculator`)."""
        from lidiff_helpers.simulation import models

        m = models.resolve_spec(spec)
        return cls(models.get_calculator(m, device=device, dtype=dtype, verbose=False),
                   name or m.name, str(spec))

    @property
    def source(self) -> str:
        return f"surrogate:{self.name}"

    def label(self, frames: Sequence, progress: bool = False) -> list:
        """Copies of ``frames`` with REF_energy / REF_forces / REF_stress from the model."""
        it: Iterable = enumerate(frames)
        if progress:
            from tqdm.auto import tqdm

            it = tqdm(it, total=len(frames), desc=f"labelling ({self.source})", unit="frame")
        out = []
        for i, at in it:
            work = at.copy()
            work.calc = self.calculator
            try:
                e = work.get_potential_energy()
                f = work.get_forces()
                s = work.get_stress(voigt=True)
            except Exception as exc:  # any calculator failure names the frame
                raise LabellingError(f"{self.source}: {_frame_name(at, i)}: "
                                     f"{type(exc).__name__}: {exc}") from exc
            lab = _store(at, e, f, s, self.source)
            _check_labels(lab, _frame_name(at, i), self.source)
            out.append(lab)
        return out


# ----------------------------------------------------------------------------- Quantum ESPRESSO

def _seconds(text: str) -> float:
    """pw.x's time strings ('1h23m', '12m34.56s', '45.67s') in seconds."""
    import re

    total = 0.0
    for num, unit in re.findall(r"([\d.]+)\s*([hms])", text):
        total += float(num) * {"h": 3600.0, "m": 60.0, "s": 1.0}[unit]
    return total


def pw_available(command: str = "pw.x") -> bool:
    """True if the executable of ``command`` (its last word that ends in ``.x``) is on PATH."""
    words = command.split()
    exe = next((w for w in reversed(words) if w.endswith(".x")), words[0] if words else "")
    return bool(exe) and shutil.which(exe) is not None


@dataclass
class QuantumEspressoLabeller:
    """DFT labels from ``pw.x`` with the study's settings (see the module docstring).

    Parameters
    ----------
    pseudo_dir : folder holding the UPF files; None: pslibrary 1.0.0's datasets generated
        with ``ld1.x`` into (or reused from) the cache of
        :func:`lidiff_helpers.training.pseudopotentials.generate_pseudopotentials`
    workdir : where each frame's pw.x run lives (``<workdir>/<frame hash>/``)
    pseudopotentials : element -> UPF file name (default :data:`STUDY_PSEUDOPOTENTIALS`)
    command : how to start pw.x (``"pw.x"``, ``"mpirun -np 64 pw.x"``); ASE appends
        ``-in espresso.pwi``
    ecutwfc_Ry, ecutrho_Ry : plane-wave cutoffs of wavefunctions and density, Ry
    conv_thr_Ry : SCF convergence threshold, Ry
    degauss_Ry : Gaussian smearing width, Ry
    input_data : further pw.x keywords (override the study's)
    max_seconds : wall-time limit of one pw.x run, s (pw.x's ``max_seconds``): a run that
        reaches it stops cleanly, saves its wavefunctions and charge density, and
        :meth:`label` raises :class:`LabellingInterrupted`; the next :meth:`label` of the
        same frame continues that SCF (``restart_mode='restart'``) instead of starting
        over. For SCFs of hours (217 atoms) split over several calls on the same machine:
        the restart files stay in the run's folder (over a GB for 216 atoms) and are not
        part of the committed state, so another machine starts the frame over.
    """

    pseudo_dir: str | os.PathLike | None = None
    workdir: str | os.PathLike = "qe-runs"
    pseudopotentials: Mapping[str, str] = field(
        default_factory=lambda: dict(STUDY_PSEUDOPOTENTIALS))
    command: str = "pw.x"
    ecutwfc_Ry: float = 110.0
    ecutrho_Ry: float = 440.0
    conv_thr_Ry: float = 5e-7
    degauss_Ry: float = 0.005
    input_data: Mapping[str, Any] = field(default_factory=dict)
    max_seconds: float | None = None

    source: str = "dft:qe-pw.x"
    _generated: Path | None = field(default=None, init=False, repr=False, compare=False)

    def pseudo_folder(self) -> Path:
        """``pseudo_dir``, or (when None) the folder of the generated pslibrary datasets
        named by ``pseudopotentials`` (generated with ``ld1.x`` on first use)."""
        if self.pseudo_dir is not None:
            return Path(self.pseudo_dir).expanduser()
        if self._generated is None:
            from lidiff_helpers.training import pseudopotentials as pp

            names = sorted(set(self.pseudopotentials.values()))
            unknown = [n for n in names if n not in pp.PSLIBRARY_DATASETS]
            if unknown:
                raise LabellingError(f"pseudo_dir=None generates only the pslibrary datasets "
                                     f"{sorted(pp.PSLIBRARY_DATASETS)}, not {unknown}; give "
                                     "pseudo_dir, the folder holding them")
            self._generated = pp.generate_pseudopotentials(names=names)
        return self._generated

    def settings(self) -> dict[str, Any]:
        """The pw.x keywords written to every input (flat; ASE sorts them into namelists)."""
        d = dict(STUDY_QE_SETTINGS)
        d.update(ecutwfc=float(self.ecutwfc_Ry), ecutrho=float(self.ecutrho_Ry),
                 conv_thr=float(self.conv_thr_Ry), degauss=float(self.degauss_Ry),
                 pseudo_dir=str(self.pseudo_folder().resolve()))
        if self.max_seconds:
            d["max_seconds"] = float(self.max_seconds)
        d.update(dict(self.input_data))
        return d

    def _species(self, atoms) -> dict[str, str]:
        syms = sorted(set(atoms.get_chemical_symbols()))
        missing = [s for s in syms if s not in self.pseudopotentials]
        if missing:
            raise LabellingError(f"no pseudopotential named for {missing}; give "
                                 "pseudopotentials={'El': 'file.UPF', ...}")
        return {s: self.pseudopotentials[s] for s in syms}

    def check_pseudopotentials(self, atoms) -> None:
        """Raise :class:`LabellingError` if a UPF file for ``atoms`` is not in pseudo_dir."""
        d = self.pseudo_folder()
        missing = [f for f in self._species(atoms).values() if not (d / f).is_file()]
        if missing:
            raise LabellingError(
                f"pseudopotential file(s) {missing} not found in pseudo_dir={d}. The study "
                "used pslibrary 1.0.0 PAW datasets (PBE); put them there, pass "
                "pseudopotentials={'Li': ..., 'F': ...} naming the files you have, or "
                "pseudo_dir=None to generate the study's with ld1.x.")

    def calculator(self, directory: str | os.PathLike, atoms, restart: bool = False):
        """ASE ``Espresso`` calculator for one frame (Gamma point: ``kpts=None``);
        ``restart``: continue the SCF that a ``max_seconds`` stop left in ``directory``."""
        from ase.calculators.espresso import Espresso, EspressoProfile

        profile = EspressoProfile(command=self.command,
                                  pseudo_dir=str(self.pseudo_folder().resolve()))
        data = {**self.settings(), "outdir": "./pwscf-out", "prefix": "pwscf"}
        if restart:
            data["restart_mode"] = "restart"
        return Espresso(profile=profile, directory=str(directory), input_data=data,
                        pseudopotentials=self._species(atoms), kpts=None)

    @staticmethod
    def progress_of(folder: str | os.PathLike) -> dict:
        """What the pw.x runs of one frame's folder did so far: ``runs`` (outputs),
        ``scf_iterations`` (summed), last ``scf_accuracy_Ry``, ``interrupted`` (the last run
        stopped at max_seconds), ``wall_s`` (summed), ``done`` (labels written)."""
        import re

        folder = Path(folder)
        outs = sorted(folder.glob("espresso.pwo.*"), key=lambda p: int(p.suffix[1:]))
        outs += [folder / "espresso.pwo"] if (folder / "espresso.pwo").is_file() else []
        it, acc, wall, last = 0, None, 0.0, ""
        for p in outs:
            last = p.read_text(errors="replace")
            it += len(re.findall(r"^\s+iteration #", last, re.M))
            a = re.findall(r"estimated scf accuracy\s+<\s+(\S+) Ry", last)
            acc = float(a[-1]) if a else acc
            w = re.findall(r"PWSCF\s+:.*CPU\s+(.*)WALL", last)
            wall += _seconds(w[-1]) if w else 0.0
        return {"runs": len(outs), "scf_iterations": it, "scf_accuracy_Ry": acc,
                "interrupted": _MAX_TIME in last, "wall_s": round(wall, 1),
                "done": (folder / "labels.npz").is_file()}

    def write_input(self, atoms, path: str | os.PathLike) -> Path:
        """Write the pw.x input of ``atoms`` to ``path`` (what :meth:`label` runs)."""
        from ase.io.espresso import write_espresso_in

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w") as fd:
            write_espresso_in(fd, atoms, input_data=self.settings(),
                              pseudopotentials=self._species(atoms), kpts=None,
                              properties=["energy", "forces", "stress"])
        return path

    def settings_hash(self, atoms=None) -> str:
        """Short hash of what changes a label besides the structure: the pw.x keywords
        (not the pseudo_dir path), the datasets' names and the initial magnetic moments."""
        import hashlib
        import json

        d = {k: v for k, v in self.settings().items() if k not in _BOOKKEEPING}
        body = {"settings": d, "pseudopotentials": dict(sorted(self.pseudopotentials.items()))}
        if atoms is not None and atoms.has("initial_magmoms"):
            body["magmoms"] = np.round(atoms.get_initial_magnetic_moments(), 6).tolist()
        blob = json.dumps(body, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:8]

    def _folder(self, atoms) -> Path:
        """``<workdir>/<frame hash>-<settings hash>``: a run with other settings (spin,
        cutoffs, datasets) never reads another's labels."""
        from lidiff_helpers.io.data import frame_hash

        return Path(self.workdir) / f"{frame_hash(atoms)}-{self.settings_hash(atoms)}"

    def label(self, frames: Sequence, progress: bool = True) -> list:
        """Run pw.x on every frame (or read a finished run back); REF labels in eV, A.

        Raises
        ------
        LabellingError
            pw.x is not on PATH, a pseudopotential is missing, or a run failed (names
            the frame, its folder and the end of pw.x's output).
        """
        if not pw_available(self.command):
            raise LabellingError(f"pw.x not found on PATH (command {self.command!r}); "
                                 "install Quantum ESPRESSO (Debian: apt-get install "
                                 "quantum-espresso) or use a SurrogateLabeller")
        it: Iterable = enumerate(frames)
        if progress:
            from tqdm.auto import tqdm

            it = tqdm(it, total=len(frames), desc="labelling (pw.x)", unit="frame")
        out = []
        for i, at in it:
            at = at.copy()
            at.wrap()
            self.check_pseudopotentials(at)
            folder = self._folder(at)
            done = folder / "labels.npz"
            if done.is_file():
                z = np.load(done)
                if len(z["forces_eV_A"]) != len(at):
                    raise LabellingError(f"{done}: labels of {len(z['forces_eV_A'])} atoms "
                                         f"for a frame of {len(at)} (stale folder?)")
                out.append(_store(at, float(z["energy_eV"]), z["forces_eV_A"],
                                  z["stress_eV_A3"], self.source))
                continue
            folder.mkdir(parents=True, exist_ok=True)
            pwo = folder / "espresso.pwo"
            last = pwo.read_text(errors="replace") if pwo.is_file() else ""
            # continue an SCF stopped at max_seconds; one stopped after it had converged
            # (while computing forces) starts over: measured, its restart converged at once
            # to forces 0.02 eV/A off (8-atom LiF, 40 Ry), where mid-SCF restarts agree with
            # an uninterrupted run to 1 meV/A and 0 meV in energy
            restart = _MAX_TIME in last and "convergence has been achieved" not in last \
                and (folder / "pwscf-out").is_dir()
            if not restart:
                shutil.rmtree(folder / "pwscf-out", ignore_errors=True)
            if pwo.is_file():  # keep every earlier output: espresso.pwo.1, .2, ...
                pwo.replace(folder / f"espresso.pwo.{len(list(folder.glob('espresso.pwo.*'))) + 1}")
            work = at.copy()
            work.calc = self.calculator(folder, at, restart=restart)
            try:
                e = work.get_potential_energy()
                f = work.get_forces()
                s = work.get_stress(voigt=True)
            except Exception as exc:  # ASE raises many types on failed runs
                text = pwo.read_text(errors="replace") if pwo.is_file() else ""
                if _MAX_TIME in text and "iteration #" not in text:
                    raise LabellingError(
                        f"pw.x for {_frame_name(at, i)} in {folder} reached max_seconds="
                        f"{self.max_seconds} before its first SCF iteration: the limit is "
                        "shorter than pw.x's setup; raise max_seconds") from exc
                if _MAX_TIME in text:
                    p = self.progress_of(folder)
                    raise LabellingInterrupted(
                        f"pw.x stopped at max_seconds={self.max_seconds} for "
                        f"{_frame_name(at, i)} in {folder} after {p['scf_iterations']} SCF "
                        f"iterations (accuracy {p['scf_accuracy_Ry']} Ry); label it again to "
                        "continue") from exc
                tail = "\n".join(pwo.read_text(errors="replace").splitlines()[-15:]) \
                    if pwo.is_file() else "(no output)"
                raise LabellingError(f"pw.x failed for {_frame_name(at, i)} in {folder}: "
                                     f"{type(exc).__name__}: {exc}\n{tail}") from exc
            lab = _store(at, e, f, s, self.source)
            _check_labels(lab, _frame_name(at, i), f"pw.x in {folder}")
            tmp = folder / "labels.tmp.npz"
            np.savez(tmp, energy_eV=lab.info["REF_energy"], forces_eV_A=lab.arrays["REF_forces"],
                     stress_eV_A3=lab.info["REF_stress"])
            tmp.replace(done)
            shutil.rmtree(folder / "pwscf-out", ignore_errors=True)  # wavefunctions: GBs
            out.append(lab)
        return out


#: what :func:`copy_finished_labels` keeps of a finished pw.x folder (no wavefunctions)
FINISHED_FILES = ("labels.npz", "espresso.pwi", "espresso.pwo")


def copy_finished_labels(src: str | os.PathLike, dst: str | os.PathLike) -> int:
    """Copy every finished pw.x folder of ``src`` (one with ``labels.npz``) that ``dst``
    lacks: its labels, input and output (:data:`FINISHED_FILES`, earlier ``espresso.pwo.N``
    too; never the wavefunctions). Used both ways: into a committed state folder after a
    run, and from it into a fresh work folder before one, so that a DFT run spread over
    sessions on different machines continues (the labeller reads a copied folder back
    instead of running pw.x). Folders already in ``dst`` are never overwritten. Returns
    the number of folders copied."""
    src, dst = Path(src), Path(dst)
    n = 0
    for done in sorted(src.glob("*/labels.npz")) if src.is_dir() else []:
        target = dst / done.parent.name
        if (target / "labels.npz").is_file():
            continue
        target.mkdir(parents=True, exist_ok=True)
        for f in done.parent.iterdir():
            if f.name != "labels.npz" and (f.name in FINISHED_FILES
                                           or f.name.startswith("espresso.pwo.")):
                shutil.copy2(f, target / f.name)
        shutil.copy2(done, target / "labels.tmp.npz")  # last: a copy cut short is not done
        (target / "labels.tmp.npz").replace(target / "labels.npz")
        n += 1
    return n


def finished_frames(root: str | os.PathLike, settings: Mapping[str, Any] | None = None,
                    pseudopotentials: Mapping[str, str] | None = None) -> list:
    """Every finished pw.x run below ``root`` (``*/labels.npz`` or ``*/*/labels.npz``,
    e.g. the committed :func:`copy_finished_labels` state) as labelled ``Atoms`` (REF
    labels, ``info["source"]`` the run's folder), sorted by folder: only runs whose input
    has ``settings`` (default: the study's, :data:`STUDY_QE_SETTINGS`) and
    ``pseudopotentials`` (default: :data:`STUDY_PSEUDOPOTENTIALS`), so that labels at other
    cutoffs or with other datasets never mix with the study's."""
    from ase.io.espresso import read_espresso_in, read_fortran_namelist

    want = dict(STUDY_QE_SETTINGS if settings is None else settings)
    pps = dict(STUDY_PSEUDOPOTENTIALS if pseudopotentials is None else pseudopotentials)
    root = Path(root)
    out = []
    for done in sorted([*root.glob("*/labels.npz"), *root.glob("*/*/labels.npz")]):
        pwi = done.parent / "espresso.pwi"
        if not pwi.is_file():
            continue
        with open(pwi) as fd:
            nml, cards = read_fortran_namelist(fd)
        flat = {k.lower(): v for sec in nml.values() for k, v in sec.items()}
        words = [ln.split() for ln in cards]
        species = {w[0]: w[2] for w in words if len(w) == 3 and w[2].upper().endswith(".UPF")}
        same = all(flat.get(k) == v or (isinstance(v, float) and isinstance(flat.get(k), float)
                                        and np.isclose(flat[k], v)) for k, v in want.items())
        if not same or any(species.get(el, f) != f for el, f in pps.items()):
            continue
        with open(pwi) as fd:
            at = read_espresso_in(fd)
        z = np.load(done)
        lab = _store(at, float(z["energy_eV"]), z["forces_eV_A"], z["stress_eV_A3"],
                     "dft:qe-pw.x")
        lab.info["source"] = str(done.parent.relative_to(root))
        out.append(lab)
    return out


def labeller_calculator(labeller):
    """An ASE calculator whose every call is one ``labeller.label`` (energy, forces,
    stress): ASE's optimizers and NEB on DFT labels. With the pw.x labeller each call is
    cached per structure, so an interrupted optimisation (:class:`LabellingInterrupted`)
    started again replays the calls already made (the optimizer is deterministic) and
    goes on from the first new one: a checkpoint after every pw.x call.
    ``calc.n_labels`` counts the calls."""
    from ase.calculators.calculator import Calculator, all_changes

    class _LabellerCalculator(Calculator):
        implemented_properties = ["energy", "free_energy", "forces", "stress"]

        def __init__(self):
            super().__init__()
            self.labeller, self.n_labels = labeller, 0

        def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
            from ase.stress import full_3x3_to_voigt_6_stress

            super().calculate(atoms, properties, system_changes)
            lab = self.labeller.label([self.atoms], progress=False)[0]
            self.n_labels += 1
            e = float(lab.info["REF_energy"])
            self.results = {"energy": e, "free_energy": e,
                            "forces": np.array(lab.arrays["REF_forces"], float),
                            "stress": full_3x3_to_voigt_6_stress(lab.info["REF_stress"])}

    return _LabellerCalculator()


# ----------------------------------------------------------------------------- choosing one

#: registry meta keys read by ``best:<notebook>`` (lower is better), in order
_ERROR_KEYS = ("valid_rmse_f_meV_A", "rmse_f_meV_A", "test_rmse_f_meV_A", "rmse_f_eV_A")


def resolve_surrogate(value: str, foundation: str, results_dir: str | os.PathLike | None = None
                      ) -> str:
    """Model spec of the surrogate labeller.

    ``foundation`` -> the foundation model itself (labels equal its predictions: the
    committee then learns nothing new, a pure teaching run); ``registry:<name>`` -> a
    model registered by an earlier notebook in ``results_dir``; ``best:<notebook>`` ->
    of the models that notebook registered, the one with the lowest force error in its
    registry meta (first key found of :data:`_ERROR_KEYS`), else the last registered,
    else (none registered) the foundation model, saying so; anything else -> a model
    spec or path.

    Raises
    ------
    LabellingError
        ``registry:<name>`` not registered (lists the registered names).
    """
    v = str(value)
    if v == "foundation":
        return str(foundation)
    if v.startswith("best:"):
        from lidiff_helpers.io.model_registry import registered_models

        nb = v.split(":", 1)[1]
        regs = registered_models(Path(results_dir or "."), notebook=nb)
        if not regs:
            print(f"[labelling] surrogate {v!r}: no model registered by {nb} in {results_dir}; "
                  "falling back to the foundation model itself (labels = its predictions)")
            return str(foundation)
        for key in _ERROR_KEYS:
            scored = [e for e in regs if isinstance(e.get(key), (int, float))]
            if scored:
                best = min(scored, key=lambda e: e[key])
                print(f"[labelling] surrogate {v!r}: {best['name']} ({key} = {best[key]:.4g})")
                return best["path"]
        print(f"[labelling] surrogate {v!r}: no error metric in the registry meta; using the "
              f"last model registered by {nb}: {regs[-1]['name']}")
        return regs[-1]["path"]
    if v.startswith("registry:"):
        from lidiff_helpers.io.model_registry import registered_models

        name = v.split(":", 1)[1]
        reg = {e["name"]: e for e in registered_models(Path(results_dir or "."))}
        if name not in reg:
            raise LabellingError(f"surrogate model {v!r}: no model {name!r} registered in "
                                 f"{results_dir} (registered: {sorted(reg) or 'none'}); run "
                                 "the notebook that makes it first, or use 'foundation'")
        return reg[name]["path"]
    return v


def make_labeller(kind: str, *, surrogate_model: str = "foundation",
                  foundation: str = "auto", results_dir: str | os.PathLike | None = None,
                  qe_pseudo_dir: str | os.PathLike | None = None, qe_command: str = "pw.x",
                  qe_pseudopotentials: Mapping[str, str] | None = None,
                  workdir: str | os.PathLike = "qe-runs", device: str = "cpu"):
    """A labeller by name: ``surrogate`` (:class:`SurrogateLabeller` of
    :func:`resolve_surrogate`) or ``qe`` (:class:`QuantumEspressoLabeller`;
    ``qe_pseudo_dir="generate"``: pslibrary's datasets generated with ``ld1.x``)."""
    if kind == "surrogate":
        return SurrogateLabeller.from_spec(resolve_surrogate(surrogate_model, foundation,
                                                             results_dir), device=device)
    if kind == "qe":
        if not qe_pseudo_dir:
            raise LabellingError("labeller='qe' needs qe_pseudo_dir (the folder holding "
                                 + ", ".join(STUDY_PSEUDOPOTENTIALS.values())
                                 + "), or qe_pseudo_dir='generate' to make them with ld1.x")
        return QuantumEspressoLabeller(
            pseudo_dir=None if str(qe_pseudo_dir) == "generate" else qe_pseudo_dir,
            workdir=workdir, command=qe_command,
            pseudopotentials=dict(qe_pseudopotentials or STUDY_PSEUDOPOTENTIALS))
    raise LabellingError(f"unknown labeller {kind!r}: use 'surrogate' or 'qe'")


# ----------------------------------------------------------------------------- test datasets
