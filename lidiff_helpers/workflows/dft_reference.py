r"""DFT at the study's level of theory: does lidiff's Quantum ESPRESSO reproduce the study?

The study labelled its frames with pw.x (PBE, PAW pslibrary 1.0.0 ``Li.pbe-s`` and
``F.pbe-n``, Gamma point, 110 / 440 Ry, Gaussian smearing 0.005 Ry; its Section 2.4) and
trained with isolated-atom energies (E0s) Li -202.82202 eV and F -803.84415 eV. lidiff
generates the same datasets with ``ld1.x`` (:mod:`lidiff_helpers.training.pseudopotentials`)
and runs pw.x through :class:`lidiff_helpers.training.labelling.QuantumEspressoLabeller`.

:func:`label_reproduction`
    pw.x on held-out study frames (216 bulk, 217 interstitial atoms) against their
    published labels: force RMSE and largest error (meV/A), stress (GPa), total energy
    (meV/atom; the same datasets and settings give the same absolute energy). Targets:
    5 meV/A, 0.1 GPa, 1 meV/atom. A 216-atom SCF is hours on 2 cores: with
    ``max_seconds`` each pw.x run stops cleanly and the next call continues it.
:func:`path_referee`
    DFT single points on the collinear knock-off path each model finds (CI-NEB, 65 atoms,
    the study's lattice, the settings of the reference-model metrics): the DFT energy of
    the model's saddle above its relaxed initial state, and the model's force error there.
    Not a DFT barrier (the geometry is the model's), but a referee: a model whose saddle DFT
    puts far from the model's own barrier is wrong there. About 10 minutes per image on 2
    cores; runs resume (``max_seconds``, :class:`LabellingInterrupted`).
:func:`dft_neb`
    a DFT climbing-image NEB of the collinear knock-off (65 atoms, the study's lattice):
    ASE's NEB with the labeller as calculator, starting from a model's converged band
    (SevenNet-0's by default), end states relaxed in DFT. Every pw.x call is cached per
    structure, so a stopped run (``max_seconds``) started again replays the calls made and
    continues: about a day of CPU at 110 / 440 Ry over several runs. ``cutoffs_Ry`` may be
    lowered for the path search; the band is then recomputed at the study's cutoffs.
:func:`e0_reproduction`
    the cheapest known answer: pw.x on an isolated atom in a cubic box, spin-unpolarised
    and spin-polarised, for several box edges, against the study's E0s. Total energies of
    PAW calculations depend on the dataset, so agreement to ~1 meV says the datasets and
    settings are the study's; the spin-polarised atoms (0.35-0.39 eV lower) say whether
    the study let the odd electron polarise. Li's diffuse 2s needs a box of ~14 A.

Results are JSON files under ``data/dft/`` with the settings, the datasets' content
hashes, the pw.x version and the wall time of each run (``python -m
lidiff_helpers.workflows.dft_reference e0``). pw.x runs are cached per structure and
settings (:class:`QuantumEspressoLabeller`), so an interrupted command resumes.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import time
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from lidiff_helpers.core import paths
from lidiff_helpers.io.data import E0S_EV
from lidiff_helpers.training.labelling import DFT_STATE

__all__ = [
    "DFT_DIR",
    "E0_BOXES_A",
    "E0_FILE",
    "LABELS_FILE",
    "LABEL_TARGETS",
    "NEB_FILE",
    "PATH_FILE",
    "REFEREE_MODELS",
    "dft_neb",
    "e0_reproduction",
    "label_reproduction",
    "main",
    "model_path",
    "path_referee",
    "pw_version",
    "reproduction_frames",
    "study_level_barrier",
]

#: committed DFT results
DFT_DIR = paths.DATA / "dft"
E0_FILE = DFT_DIR / "e0_reproduction.json"
#: cubic box edges (A) of the isolated-atom runs, per element
E0_BOXES_A = {"F": (10.0, 12.0), "Li": (10.0, 12.0, 14.0, 16.0)}
#: box edge (A) of the spin-polarised runs (the 0.35 eV question needs no large box)
SPIN_BOX_A = 10.0
WORKDIR = paths.RESULTS / "dft-reference"
PATH_FILE = DFT_DIR / "path_referee.json"
LABELS_FILE = DFT_DIR / "label_reproduction.json"
NEB_FILE = DFT_DIR / "neb_knockoff_collinear.json"
#: committed finished pw.x runs (labels, input, output; no wavefunctions), one subfolder per
#: work folder (``pw``, ``neb-pw-60-240``, ...): a fresh clone reads them back instead of
#: running pw.x again, so DFT work spread over sessions adds up (commit it after a run)
STATE = DFT_STATE
#: the study's plane-wave cutoffs (wavefunctions, density), Ry
STUDY_CUTOFFS_RY = (110.0, 440.0)
#: targets of the label reproduction: force RMSE (meV/A), stress (GPa), energy (meV/atom)
LABEL_TARGETS = {"F_rmse_meV_A": 5.0, "S_max_GPa": 0.1, "E_meV_atom": 1.0}
#: models whose knock-off path DFT referees, in order (the foundations first)
REFEREE_MODELS = ("sevennet-0", "embedded", "reference-scratch", "reference-naive", "chgnet",
                  "reference-multihead-pt100", "reference-lora",
                  "reference-multihead-pt100-pseudolabel",
                  "reference-multihead-pt100-mace-default")
MECHANISM = "knockoff-collinear"


def pw_version(command: str = "pw.x") -> str | None:
    """pw.x's version line (e.g. ``v.6.7MaX``), from a run that reads an empty input."""
    import tempfile

    try:
        with tempfile.TemporaryDirectory() as tmp:  # pw.x leaves CRASH, input_tmp.in
            out = subprocess.run(command.split(), input="", capture_output=True, text=True,
                                 check=False, timeout=60, cwd=tmp).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r"Program PWSCF (\S+)", out)
    return m.group(1) if m else None


def _atom(element: str, box_A: float, magmom: float | None = None):
    from ase import Atoms

    at = Atoms(element, positions=[[0.0, 0.0, 0.0]], cell=[box_A] * 3, pbc=True)
    if magmom is not None:
        at.set_initial_magnetic_moments([magmom])
    return at


def e0_reproduction(workdir: str | Path = WORKDIR, out: str | Path | None = E0_FILE,
                    boxes_A: dict | None = None, spin: bool = True,
                    command: str = "pw.x", progress: bool = True) -> dict:
    """Isolated-atom pw.x energies at the study's settings against its E0s.

    Returns (and writes to ``out`` unless None) ``rows``: element, box (A), spin
    (``unpolarised`` / ``polarised``), energy (eV), difference from the study's E0 (meV),
    wall time (s); ``settings``, ``pseudopotentials`` (names, content SHA256),
    ``pw_version``, ``command``.
    """
    from tqdm.auto import tqdm

    from lidiff_helpers.core.provenance import git_commit
    from lidiff_helpers.training import pseudopotentials as pp
    from lidiff_helpers.training.labelling import QuantumEspressoLabeller

    boxes_A = boxes_A or E0_BOXES_A
    plain = QuantumEspressoLabeller(workdir=Path(workdir) / "e0", command=command)
    polar = QuantumEspressoLabeller(workdir=Path(workdir) / "e0", command=command,
                                    input_data={"nspin": 2})
    jobs = [(el, b, plain, None) for el, bs in boxes_A.items() for b in bs]
    if spin:
        jobs += [(el, SPIN_BOX_A, polar, 1.0) for el in boxes_A]
    rows = []
    for el, box, lab, mag in tqdm(jobs, desc="isolated atoms (pw.x)", disable=not progress):
        t0 = time.time()
        e = lab.label([_atom(el, box, mag)], progress=False)[0].info["REF_energy"]
        rows.append({"element": el, "box_A": box,
                     "spin": "polarised" if mag is not None else "unpolarised",
                     "E_eV": e, "study_E0_eV": E0S_EV[el],
                     "difference_meV": 1000.0 * (e - E0S_EV[el]),
                     "wall_s": round(time.time() - t0, 1)})
    prov = pp.read_provenance(plain.pseudo_folder())
    res = {"what": "isolated-atom energies at the study's pw.x settings vs its E0s",
           "rows": rows, "settings": {k: v for k, v in plain.settings().items()
                                      if k != "pseudo_dir"},
           "pseudopotentials": {name: {k: d.get(k) for k in ("content_sha256", "sha256")}
                                for name, d in prov.get("datasets", {}).items()},
           "pw_version": pw_version(command.split()[-1] if command else "pw.x"),
           "pw_command": command, "commit": git_commit().get("commit"),
           "command": "python -m lidiff_helpers.workflows.dft_reference e0",
           "date": time.strftime("%Y-%m-%d")}
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(res, indent=1, default=str) + "\n")
    return res


def _qe_provenance(lab, command: str) -> dict:
    """Settings, datasets' content hashes and pw.x version of a QE referee ({} otherwise)."""
    from lidiff_helpers.training import pseudopotentials as pp
    from lidiff_helpers.training.labelling import QuantumEspressoLabeller

    if not isinstance(lab, QuantumEspressoLabeller):
        return {}
    return {"settings": {k: v for k, v in lab.settings().items()
                         if k not in ("pseudo_dir", "max_seconds")},
            "pseudopotentials": {n: d.get("content_sha256") for n, d in
                                 pp.read_provenance(lab.pseudo_folder())
                                 .get("datasets", {}).items()},
            "pw_version": pw_version(command.split()[-1]), "pw_command": command}


@contextmanager
def _committed_state(folders: Sequence[Path], state: str | Path | None):
    """Seed each pw.x work folder from ``state`` before the block; copy its finished runs
    back there after it (also when pw.x paused or failed). ``state`` None: no copies."""
    from lidiff_helpers.training.labelling import copy_finished_labels

    if state is None:
        yield
        return
    for f in folders:
        copy_finished_labels(Path(state) / Path(f).name, f)
    try:
        yield
    finally:
        for f in folders:
            n = copy_finished_labels(f, Path(state) / Path(f).name)
            if n:
                print(f"[dft_reference] {n} finished pw.x run(s) copied to "
                      f"{Path(state) / Path(f).name} (commit them)")


def _write(out: str | Path | None, body: dict, rows: list) -> None:
    """Write a result file (rows, commit, date) after every finished or paused item."""
    from lidiff_helpers.core.provenance import git_commit

    body.update(rows=rows, commit=git_commit().get("commit"), date=time.strftime("%Y-%m-%d"))
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(body, indent=1, default=str) + "\n")


def model_path(spec: str, workdir: str | Path = WORKDIR) -> dict:
    """The model's collinear knock-off CI-NEB (65 atoms, study lattice, the reference
    metrics' NEB settings), cached by model SHA256: images (positions, numbers, cell), the
    model's energies (eV, relative to the initial state), barrier, climbing index, and the
    model's forces on every image (eV/A)."""
    from lidiff_helpers.core.cache import cached_json
    from lidiff_helpers.core.units import LIF_A_STUDY_A
    from lidiff_helpers.simulation import neb
    from lidiff_helpers.simulation.models import get_calculator, model_identity
    from lidiff_helpers.workflows.reference_metrics import NEB

    ident = model_identity(spec)
    key = {"model_sha256": ident["sha256"], "mechanism": MECHANISM, "n_cells": 2,
           "a_A": LIF_A_STUDY_A, "settings": NEB, "dtype": "float64"}

    def compute() -> dict:
        calc = get_calculator(spec, dtype="float64", verbose=False)
        r = neb.barrier(MECHANISM, calc, 2, LIF_A_STUDY_A, neb.NEBSettings(**NEB))
        forces = []
        for im in r.images:
            at = im.copy()
            at.calc = calc
            forces.append(at.get_forces().tolist())
        return {**r.summary(), "positions": [im.positions.tolist() for im in r.images],
                "numbers": r.images[0].numbers.tolist(), "cell": r.images[0].cell.tolist(),
                "forces_eV_A": forces}

    safe = spec.replace("/", "_")
    return cached_json(Path(workdir) / "paths" / f"{safe}-{ident['sha256'][:12]}.json", key,
                       compute)


def _image(res: dict, k: int):
    from ase import Atoms

    return Atoms(numbers=res["numbers"], positions=res["positions"][k], cell=res["cell"],
                 pbc=True)


def path_referee(models: Sequence[str] = REFEREE_MODELS, workdir: str | Path = WORKDIR,
                 out: str | Path | None = PATH_FILE, images: str = "saddle",
                 command: str = "pw.x", max_seconds: float | None = None,
                 progress: bool = True, labeller=None, state: str | Path | None = STATE
                 ) -> dict:
    """DFT single points along each model's collinear knock-off path (module docstring).

    ``images``: ``saddle`` (the relaxed initial state and the climbing image: 2 pw.x runs
    per model) or ``all`` (every image but the final one, equivalent to the initial by
    symmetry). A pw.x run stopped by ``max_seconds`` is recorded as ``in progress`` and the
    command stops there (run it again to continue). Writes ``out`` after every model.
    ``labeller``: the referee (default: :class:`QuantumEspressoLabeller` at the study's
    settings with ``command`` and ``max_seconds``); any labeller works (tests use a model).
    ``state``: committed finished pw.x runs (:data:`STATE`) read before and added to after
    (only with the default labeller; None: none).

    Rows per model: ``model``, ``model_sha256``, ``model_barrier_eV``, per image
    ``model_E_eV`` / ``dft_E_eV`` (relative to the initial state), ``dft_barrier_along_path_eV``
    (DFT at the model's saddle minus DFT at its initial state), ``saddle_F_rmse_meV_A`` and
    ``saddle_F_max_error_meV_A`` (model vs DFT at the saddle), ``dft_saddle_F_max_eV_A``
    (how far the model's saddle is from a DFT stationary point), ``status``.
    """
    from lidiff_helpers.core.errors import ParameterError
    from lidiff_helpers.simulation.models import model_identity
    from lidiff_helpers.training.labelling import LabellingInterrupted, QuantumEspressoLabeller

    if images not in ("saddle", "all"):
        raise ParameterError(f"images must be 'saddle' or 'all', got {images!r}")
    lab = labeller or QuantumEspressoLabeller(workdir=Path(workdir) / "pw", command=command,
                                              max_seconds=max_seconds)
    old = json.loads(Path(out).read_text()) if out and Path(out).is_file() else {}
    rows = {r["model"]: r for r in old.get("rows", [])}
    res_all = {"what": "DFT single points along each model's collinear knock-off path",
               "referee": lab.source,
               "neb": MECHANISM + ", 65 atoms, study lattice, reference_metrics.NEB",
               "command": "python -m lidiff_helpers.workflows.dft_reference paths"}
    res_all.update(_qe_provenance(lab, command))

    def write():
        _write(out, res_all, list(rows.values()))

    folders = [] if labeller is not None else [Path(lab.workdir)]
    with _committed_state(folders, state):
        for spec in models:
            res = model_path(spec, workdir)
            ci = int(res["climbing_index"])
            ks = [0, ci] if images == "saddle" else list(range(len(res["positions"]) - 1))
            row = {"model": spec, "model_sha256": model_identity(spec)["sha256"],
                   "model_barrier_eV": res["barrier_eV"], "model_converged": res["converged"],
                   "climbing_index": ci, "images": ks, "status": "in progress"}
            dft: dict[int, dict] = {}
            try:
                for k in ks:
                    t0 = time.time()
                    lab_k = lab.label([_image(res, k)], progress=progress)[0]
                    dft[k] = {"E_eV": lab_k.info["REF_energy"], "F": lab_k.arrays["REF_forces"],
                              "wall_s": _wall_s(lab, _image(res, k), t0)}
            except LabellingInterrupted as exc:
                row["note"] = str(exc)
                rows[spec] = row
                write()
                raise
            e0 = dft[0]["E_eV"]
            row["model_E_eV"] = [res["energies_eV"][k] for k in ks]
            row["dft_E_eV"] = [dft[k]["E_eV"] - e0 for k in ks]
            row["dft_wall_s"] = [dft[k]["wall_s"] for k in ks]
            f_model = np.asarray(res["forces_eV_A"][ci])
            err = 1e3 * (f_model - dft[ci]["F"])
            row.update(dft_barrier_along_path_eV=dft[ci]["E_eV"] - e0,
                       saddle_F_rmse_meV_A=float(np.sqrt(np.mean(err ** 2))),
                       saddle_F_max_error_meV_A=float(np.abs(err).max()),
                       dft_saddle_F_max_eV_A=float(np.linalg.norm(dft[ci]["F"], axis=1).max()),
                       status="done")
            row.pop("note", None)
            rows[spec] = row
            write()
    return res_all


def _wall_s(lab, atoms, t0: float) -> float:
    """Wall time (s) of one label: pw.x's own (summed over its restarts, also when the run
    was read back from a committed state), else the time since ``t0``."""
    if hasattr(lab, "progress_of"):
        at = atoms.copy()
        at.wrap()       # as the labeller names the run's folder
        return lab.progress_of(lab._folder(at))["wall_s"]
    return round(time.time() - t0, 1)


def _pw_cpu_s(folder: Path) -> float:
    """CPU seconds of every pw.x run under ``folder`` (each output's last "total cpu time",
    restarts and earlier outputs included)."""
    total = 0.0
    for f in Path(folder).rglob("espresso.pwo*"):
        hits = re.findall(r"total cpu time spent up to now is\s+([\d.]+) secs",
                          f.read_text(errors="replace"))
        total += float(hits[-1]) if hits else 0.0
    return round(total, 1)


def _final_state_text(sym) -> str:
    """How the NEB's final state was made (an :func:`~lidiff_helpers.simulation.neb.
    inversion_map` result or None)."""
    if sym is None:
        return "relaxed in DFT"
    return (f"the DFT-relaxed initial state inverted through {np.round(sym[0], 4).tolist()} "
            f"A (the start band's end states map so to {sym[2]:.4f} A)")


def _start_band(res: dict, n_images: int | None) -> list:
    """The start band's images (a :func:`model_path` result): all of them, or the end
    states and ``n_images`` interior images around the climbing image."""
    from lidiff_helpers.core.errors import ParameterError

    band = [_image(res, k) for k in range(len(res["positions"]))]
    n_int = len(band) - 2
    if n_images is None or int(n_images) == n_int:
        return band
    if not 1 <= int(n_images) <= n_int:
        raise ParameterError(f"n_images must be 1..{n_int} (the start band's interior), "
                             f"got {n_images}")
    lo = min(max(1, int(res["climbing_index"]) - (int(n_images) - 1) // 2),
             n_int + 1 - int(n_images))
    return [band[0], *band[lo:lo + int(n_images)], band[-1]]


def dft_neb(workdir: str | Path = WORKDIR, out: str | Path | None = NEB_FILE,
            start: str = "sevennet-0", cutoffs_Ry: Sequence[float] = STUDY_CUTOFFS_RY,
            fmax_eV_A: float = 0.05, max_steps: int = 200, command: str = "pw.x",
            max_seconds: float | None = None, labeller=None, full_labeller=None,
            state: str | Path | None = STATE, n_images: int | None = None,
            symmetric_final: bool = True, optimizer: str = "bfgs",
            climb_from_start: bool = True) -> dict:
    """DFT CI-NEB of the collinear knock-off (module docstring). ``start``: the model whose
    converged band (:func:`model_path`) is the starting band; ``labeller``: the referee
    (default: pw.x at the study's settings and ``cutoffs_Ry``); ``full_labeller``: the
    study-cutoff recomputation when ``cutoffs_Ry`` are lower (default: pw.x at 110 / 440).
    Writes ``out`` when paused (status ``in progress``, pw.x CPU so far) and when done
    (barrier, energies, climbing-image force, the band, CPU). ``state``: committed finished
    pw.x runs (:data:`STATE`), read before and added to after (only with the default
    labellers; None: none). ``n_images``: interior images (None: the start band's; fewer:
    the start band's images around its climbing image; 1 is a climbing image alone, where
    the symmetric knock-off's saddle lies midway between its end states).
    ``symmetric_final``: when the start band's end states map onto each other by inversion
    (:func:`~lidiff_helpers.simulation.neb.inversion_map`), the final state is the
    DFT-relaxed initial state inverted, not relaxed again (its DFT energy is still computed:
    the endpoint asymmetry checks the symmetry). ``optimizer``, ``climb_from_start``: as
    :class:`~lidiff_helpers.simulation.neb.NEBSettings`; the default (BFGS climbing from
    the start band) needs the fewest force calls (``benchmarks/RESULTS_neb_optimizers.json``)."""
    from lidiff_helpers.simulation import neb
    from lidiff_helpers.simulation.models import model_identity
    from lidiff_helpers.training.labelling import (
        LabellingInterrupted,
        QuantumEspressoLabeller,
        labeller_calculator,
    )

    ec = tuple(float(x) for x in cutoffs_Ry)
    folder = Path(workdir) / f"neb-pw-{ec[0]:g}-{ec[1]:g}"
    lab = labeller or QuantumEspressoLabeller(workdir=folder, command=command,
                                              max_seconds=max_seconds, ecutwfc_Ry=ec[0],
                                              ecutrho_Ry=ec[1])
    res = model_path(start, workdir)
    band = _start_band(res, n_images)
    sym = neb.inversion_map(band[0], band[-1]) if symmetric_final else None
    body = {"what": "DFT climbing-image NEB of the collinear knock-off (65 atoms, study "
            "lattice), ASE NEB with pw.x as calculator",
            "command": "python -m lidiff_helpers.workflows.dft_reference neb",
            "start_band": start, "start_sha256": model_identity(start)["sha256"],
            "start_barrier_eV": res["barrier_eV"], "cutoffs_Ry": list(ec),
            "fmax_eV_A": fmax_eV_A, "max_steps": max_steps, "n_images": len(band) - 2,
            "optimizer": optimizer, "climb_from_start": climb_from_start,
            "final_state": _final_state_text(sym), "referee": lab.source,
            **_qe_provenance(lab, command)}
    calc = labeller_calculator(lab)
    settings = neb.NEBSettings(n_images=len(band) - 2, fmax_eV_A=fmax_eV_A,
                               pre_fmax_eV_A=max(fmax_eV_A, 0.1), max_steps=max_steps,
                               optimizer=optimizer, climb_from_start=climb_from_start)
    folders = ([] if labeller is not None else [folder]) + \
        ([] if full_labeller is not None else [Path(workdir) / "neb-pw-study"])
    with _committed_state(folders, state):
        try:
            init, _, ok_i = neb.relax(band[0], calc, fmax_eV_A, max_steps)
            if sym is None:
                fin, _, ok_f = neb.relax(band[-1], calc, fmax_eV_A, max_steps)
            else:
                fin, ok_f = neb.invert(init, band[-1], sym[0], sym[1]), ok_i
            r = neb.run_neb(init, fin, calc, settings, mechanism=MECHANISM,
                            interior=band[1:-1])
        except LabellingInterrupted as exc:
            body.update(status="in progress", note=str(exc), labels_this_run=calc.n_labels,
                        pw_cpu_s=_pw_cpu_s(folder))
            _write(out, body, [])
            raise
        body.update(status="done", barrier_eV=r.barrier_eV, energies_eV=list(r.energies_eV),
                    climbing_index=r.climbing_index, climbing_fmax_eV_A=r.climbing_fmax_eV_A,
                    converged=r.converged, endpoints_relaxed=[ok_i, ok_f], n_steps=r.n_steps,
                    endpoint_asymmetry_eV=r.endpoint_asymmetry_eV,
                    labels_this_run=calc.n_labels, pw_cpu_s=_pw_cpu_s(folder),
                    positions=[im.positions.tolist() for im in r.images],
                    numbers=r.images[0].numbers.tolist(), cell=r.images[0].cell.tolist())
        if ec != STUDY_CUTOFFS_RY or full_labeller is not None:
            full = full_labeller or QuantumEspressoLabeller(
                workdir=Path(workdir) / "neb-pw-study", command=command, max_seconds=max_seconds)
            e = [x.info["REF_energy"] for x in full.label(r.images, progress=True)]
            body.update(barrier_study_cutoffs_eV=float(e[r.climbing_index] - e[0]),
                        energies_study_cutoffs_eV=[float(x - e[0]) for x in e])
        _write(out, body, [])
        return body


#: how tables and figures name :func:`study_level_barrier`
STUDY_LEVEL_LABEL = "DFT, the study's level of theory (this compendium)"


def study_level_barrier(path: str | Path | None = None) -> dict | None:
    """The compendium's own DFT CI-NEB barrier of the collinear knock-off (the committed
    :func:`dft_neb` result) once it is done, else None: ``barrier_eV`` at the study's
    110 / 440 Ry (recomputed on the path when the search used lower cutoffs),
    ``cutoffs_Ry`` the path search's, ``converged``, ``n_images``, ``label``."""
    n = json.loads(Path(path or NEB_FILE).read_text()) if Path(path or NEB_FILE).is_file() \
        else None
    if not n or n.get("status") != "done":
        return None
    return {"barrier_eV": float(n.get("barrier_study_cutoffs_eV", n["barrier_eV"])),
            "search_barrier_eV": float(n["barrier_eV"]), "cutoffs_Ry": n["cutoffs_Ry"],
            "converged": bool(n["converged"]), "n_images": n.get("n_images"),
            "label": STUDY_LEVEL_LABEL}


def reproduction_frames(n_bulk: int = 1, n_interstitial: int = 1) -> list:
    """The first ``n_bulk`` bulk and ``n_interstitial`` interstitial frames of the held-out
    test set (sorted by content hash: the same frames on every machine)."""
    from lidiff_helpers.io import data

    return (data.test_set("bulk")[:n_bulk] + data.test_set("interstitial")[:n_interstitial])


def _compare(ref, lab) -> dict:
    from lidiff_helpers.core.units import GPA_PER_EV_A3

    df = 1e3 * (np.asarray(lab.arrays["REF_forces"]) - np.asarray(ref.arrays["REF_forces"]))
    s_ref = np.asarray(ref.info["REF_stress"], float).reshape(3, 3)
    ds = GPA_PER_EV_A3 * (np.asarray(lab.info["REF_stress"], float).reshape(3, 3) - s_ref)
    de = 1e3 * (lab.info["REF_energy"] - ref.info["REF_energy"]) / len(ref)
    out = {"F_rmse_meV_A": float(np.sqrt(np.mean(df ** 2))),
           "F_max_error_meV_A": float(np.abs(df).max()),
           "S_max_GPa": float(np.abs(ds).max()), "E_meV_atom": float(de)}
    out["meets_targets"] = bool(out["F_rmse_meV_A"] <= LABEL_TARGETS["F_rmse_meV_A"]
                                and out["S_max_GPa"] <= LABEL_TARGETS["S_max_GPa"]
                                and abs(de) <= LABEL_TARGETS["E_meV_atom"])
    return out


def label_reproduction(frames: Sequence | None = None, workdir: str | Path = WORKDIR,
                       out: str | Path | None = LABELS_FILE, command: str = "pw.x",
                       max_seconds: float | None = None, input_data: dict | None = None,
                       labeller=None, progress: bool = True,
                       state: str | Path | None = STATE) -> dict:
    """pw.x on held-out study frames against their labels (module docstring).

    Each frame's row: ``hash``, ``kind``, ``n_atoms``, ``status`` (``done`` with the
    errors of :func:`_compare`, or ``in progress`` with pw.x's progress), the settings'
    extra keywords (``input_data``, e.g. ``{"nspin": 2}`` to test spin polarisation).
    Frames are labelled in order; a pw.x run stopped by ``max_seconds`` ends the call after
    writing ``out`` (run it again to continue). ``state``: as :func:`path_referee`.
    """
    from lidiff_helpers.io.data import frame_hash
    from lidiff_helpers.training.labelling import LabellingInterrupted, QuantumEspressoLabeller

    frames = reproduction_frames() if frames is None else list(frames)
    lab = labeller or QuantumEspressoLabeller(workdir=Path(workdir) / "labels",
                                              command=command, max_seconds=max_seconds,
                                              input_data=dict(input_data or {}))
    rows = []
    body = {"what": "pw.x at the study's settings on held-out study frames vs their labels",
            "targets": LABEL_TARGETS, "referee": lab.source,
            "command": "python -m lidiff_helpers.workflows.dft_reference labels"}
    body.update(_qe_provenance(lab, command))

    def write():
        _write(out, body, rows)

    folders = [] if labeller is not None else [Path(lab.workdir)]
    with _committed_state(folders, state):
        for at in frames:
            row = {"hash": at.info.get("hash") or frame_hash(at), "kind": at.info.get("kind"),
                   "n_atoms": len(at), "source": at.info.get("source")}
            try:
                t0 = time.time()
                got = lab.label([at], progress=progress)[0]
            except LabellingInterrupted as exc:
                folder = lab._folder(at.copy()) if hasattr(lab, "_folder") else None
                row.update(status="in progress", note=str(exc).splitlines()[0],
                           progress=lab.progress_of(folder) if folder else None)
                rows.append(row)
                write()
                raise
            row.update(status="done", **_compare(at, got), wall_s=round(time.time() - t0, 1))
            if hasattr(lab, "_folder"):
                w = at.copy()
                w.wrap()
                row["pw"] = lab.progress_of(lab._folder(w))
            rows.append(row)
            write()
    return body


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lidiff_helpers.workflows.dft_reference",
                                 description="DFT at the study's level of theory")
    ap.add_argument("what", choices=["e0", "paths", "labels", "neb"])
    ap.add_argument("--command", default="pw.x",
                    help="how to start pw.x (Debian's is MPI: 'mpirun --allow-run-as-root "
                         "-np 2 pw.x')")
    ap.add_argument("--workdir", default=str(WORKDIR))
    ap.add_argument("--models", nargs="+", default=list(REFEREE_MODELS))
    ap.add_argument("--images", choices=["saddle", "all"], default="saddle")
    ap.add_argument("--max-seconds", type=float, default=None,
                    help="stop each pw.x run after this many seconds (rerun to continue)")
    ap.add_argument("--start", default="sevennet-0", help="neb: the starting band's model")
    ap.add_argument("--cutoffs", nargs=2, type=float, default=list(STUDY_CUTOFFS_RY),
                    metavar=("ECUTWFC", "ECUTRHO"),
                    help="neb: cutoffs (Ry) of the path search (lower ones: the band is "
                         "recomputed at the study's)")
    ap.add_argument("--n-images", type=int, default=None,
                    help="neb: interior images (default: the start band's; 1: a climbing "
                         "image alone)")
    ap.add_argument("--relax-final", action="store_true",
                    help="neb: relax the final state in DFT even when it is the initial "
                         "state inverted")
    ap.add_argument("--n-bulk", type=int, default=1, help="labels: held-out bulk frames")
    ap.add_argument("--n-interstitial", type=int, default=1,
                    help="labels: held-out interstitial frames")
    ap.add_argument("--state", default=str(STATE),
                    help="committed finished pw.x runs, read before and added to after "
                         "(commit them); '' for none")
    a = ap.parse_args(argv)
    state = a.state or None
    from lidiff_helpers.training.labelling import LabellingInterrupted

    try:
        if a.what == "labels":
            res = label_reproduction(reproduction_frames(a.n_bulk, a.n_interstitial),
                                     a.workdir, command=a.command, max_seconds=a.max_seconds,
                                     state=state)
            for r in res["rows"]:
                print(f"{r['kind']} {r['hash']}: F RMSE {r['F_rmse_meV_A']:.2f} meV/A, stress "
                      f"{r['S_max_GPa']:.3f} GPa, E {r['E_meV_atom']:+.3f} meV/atom")
            return 0
        if a.what == "neb":
            r = dft_neb(a.workdir, start=a.start, cutoffs_Ry=a.cutoffs, command=a.command,
                        max_seconds=a.max_seconds, state=state, n_images=a.n_images,
                        symmetric_final=not a.relax_final)
            print(f"DFT knock-off barrier {r['barrier_eV']:.3f} eV (converged "
                  f"{r['converged']}), pw.x CPU {r['pw_cpu_s']:.0f} s")
            return 0
        if a.what == "paths":
            res = path_referee(a.models, a.workdir, images=a.images, command=a.command,
                               max_seconds=a.max_seconds, state=state)
            for r in res["rows"]:
                print(f"{r['model']}: model {r['model_barrier_eV']:.3f} eV, DFT along its "
                      f"path {r.get('dft_barrier_along_path_eV', float('nan')):.3f} eV "
                      f"({r['status']})")
            return 0
    except LabellingInterrupted as exc:
        print(f"paused (run the same command again to continue): {exc}")
        return 3
    res = e0_reproduction(a.workdir, command=a.command)
    for r in res["rows"]:
        print(f"{r['element']:2s} {r['box_A']:5.1f} A {r['spin']:11s} {r['E_eV']:.5f} eV "
              f"({r['difference_meV']:+.1f} meV vs the study) {r['wall_s']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
