"""Shared pieces of lidiff's DFT work at the study's level of theory.

Where the committed results live (:data:`DFT_DIR`, :data:`STATE`), the study's cutoffs, the
command that writes each result file, pw.x's version and the provenance of a Quantum
ESPRESSO referee, the committed-state context that lets pw.x work spread over sessions add
up, and each model's collinear knock-off path (CI-NEB, cached by model SHA256). Used by
:mod:`lidiff_helpers.workflows.dft_reference` (label reproduction, path referee, E0s, the
command line) and :mod:`lidiff_helpers.workflows.dft_neb` (the DFT NEB).
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path

from lidiff_helpers.core import paths
from lidiff_helpers.training.labelling import DFT_STATE

__all__ = ["DFT_DIR", "E0_FILE", "LABELS_FILE", "MECHANISM", "PATH_FILE", "STATE",
           "STUDY_CUTOFFS_RY", "WORKDIR", "command_for", "committed_state", "model_path",
           "path_image", "pw_version", "qe_provenance", "write_result"]

#: committed DFT results
DFT_DIR = paths.DATA / "dft"
E0_FILE = DFT_DIR / "e0_reproduction.json"
WORKDIR = paths.RESULTS / "dft-reference"
PATH_FILE = DFT_DIR / "path_referee.json"
LABELS_FILE = DFT_DIR / "label_reproduction.json"
#: committed finished pw.x runs (labels, input, output; no wavefunctions), one subfolder per
#: work folder (``pw``, ``neb-pw-60-240``, ...): a fresh clone reads them back instead of
#: running pw.x again, so DFT work spread over sessions adds up (commit it after a run)
STATE = DFT_STATE
#: the study's plane-wave cutoffs (wavefunctions, density), Ry
STUDY_CUTOFFS_RY = (110.0, 440.0)
MECHANISM = "knockoff-collinear"


def command_for(path: Path) -> str:
    """The command that writes the DFT result file ``path`` (a file of :data:`DFT_DIR`)."""
    what = {"label_reproduction.json": "labels", "path_referee.json": "paths",
            "neb_knockoff_collinear.json": "neb", "e0_reproduction.json": "e0"}[Path(path).name]
    return f"python -m lidiff_helpers.workflows.dft_reference {what}"


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


def qe_provenance(lab, command: str) -> dict:
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
def committed_state(folders: Sequence[Path], state: str | Path | None):
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


def write_result(out: str | Path | None, body: dict, rows: list) -> None:
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


def path_image(res: dict, k: int):
    from ase import Atoms

    return Atoms(numbers=res["numbers"], positions=res["positions"][k], cell=res["cell"],
                 pbc=True)
