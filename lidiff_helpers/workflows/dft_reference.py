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
:func:`lidiff_helpers.workflows.dft_neb.dft_neb`
    a DFT climbing-image NEB of the collinear knock-off (its own module; the command
    line is this module's ``neb``).
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
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from lidiff_helpers.io.data import E0S_EV
from lidiff_helpers.workflows.dft_common import (  # the shared pieces, re-exported
    DFT_DIR,
    E0_FILE,
    LABELS_FILE,
    MECHANISM,
    PATH_FILE,
    STATE,
    STUDY_CUTOFFS_RY,
    WORKDIR,
    command_for,
    committed_state,
    model_path,
    path_image,
    pw_version,
    qe_provenance,
    write_result,
)

__all__ = [
    "DFT_DIR",
    "E0_BOXES_A",
    "E0_FILE",
    "LABELS_FILE",
    "LABEL_TARGETS",
    "MECHANISM",
    "PATH_FILE",
    "REFEREE_MODELS",
    "STATE",
    "STUDY_CUTOFFS_RY",
    "WORKDIR",
    "command_for",
    "committed_state",
    "e0_reproduction",
    "label_reproduction",
    "main",
    "model_path",
    "path_image",
    "path_referee",
    "pw_version",
    "qe_provenance",
    "reproduction_frames",
    "write_result",
]

#: cubic box edges (A) of the isolated-atom runs, per element
E0_BOXES_A = {"F": (10.0, 12.0), "Li": (10.0, 12.0, 14.0, 16.0)}
#: box edge (A) of the spin-polarised runs (the 0.35 eV question needs no large box)
SPIN_BOX_A = 10.0
#: targets of the label reproduction: force RMSE (meV/A), stress (GPa), energy (meV/atom)
LABEL_TARGETS = {"F_rmse_meV_A": 5.0, "S_max_GPa": 0.1, "E_meV_atom": 1.0}
#: models whose knock-off path DFT referees, in order (the foundations first)
REFEREE_MODELS = ("sevennet-0", "embedded", "embedded-v1", "chgnet", "reference-scratch",
                  "reference-naive", "reference-multihead-pt100", "reference-lora",
                  "reference-multihead-pt100-pseudolabel",
                  "reference-multihead-pt100-mace-default")


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
    from lidiff_helpers.simulation.models import committed_spec, model_identity
    from lidiff_helpers.training.labelling import LabellingInterrupted, QuantumEspressoLabeller

    if images not in ("saddle", "all"):
        raise ParameterError(f"images must be 'saddle' or 'all', got {images!r}")
    lab = labeller or QuantumEspressoLabeller(workdir=Path(workdir) / "pw", command=command,
                                              max_seconds=max_seconds)
    old = json.loads(Path(out).read_text()) if out and Path(out).is_file() else {}
    # one row per model file (SHA256): a row of a model that is now committed under another
    # spec (embedded v1 -> embedded-v1) keeps its numbers and takes that name
    rows = {r["model_sha256"]: {**r, "model": committed_spec(r["model_sha256"]) or r["model"]}
            for r in old.get("rows", [])}
    res_all = {"what": "DFT single points along each model's collinear knock-off path",
               "referee": lab.source,
               "neb": MECHANISM + ", 65 atoms, study lattice, reference_metrics.NEB",
               "command": "python -m lidiff_helpers.workflows.dft_reference paths"}
    res_all.update(qe_provenance(lab, command))

    def write():
        write_result(out, res_all, list(rows.values()))

    folders = [] if labeller is not None else [Path(lab.workdir)]
    with committed_state(folders, state):
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
                    lab_k = lab.label([path_image(res, k)], progress=progress)[0]
                    dft[k] = {"E_eV": lab_k.info["REF_energy"], "F": lab_k.arrays["REF_forces"],
                              "wall_s": _wall_s(lab, path_image(res, k), t0)}
            except LabellingInterrupted as exc:
                row["note"] = str(exc)
                rows[row["model_sha256"]] = row
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
            rows[row["model_sha256"]] = row
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
    body.update(qe_provenance(lab, command))

    def write():
        write_result(out, body, rows)

    folders = [] if labeller is not None else [Path(lab.workdir)]
    with committed_state(folders, state):
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
            from lidiff_helpers.workflows.dft_neb import dft_neb

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
