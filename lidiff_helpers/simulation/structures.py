"""Starting structures of the MD runs: LiF with one interstitial Li.

The study simulates one interstitial Li in a 5x5x5 conventional rock-salt LiF supercell
(1000 atoms + 1 Li = 1001 atoms, edge 20.41714 A, so a = 4.083428 A), starting from
structures equilibrated for 300 ps with MACE-MPA-0 that it published as LAMMPS ``.data``
files. This module gives both kinds of start, each named by a short spec string that the
MD runner and its manifest record:

``lif:<n>`` / ``lif:<n>:tetrahedral``
    an n x n x n conventional LiF supercell (8 n^3 atoms: Li on the 4a sites (0,0,0)a +
    fcc translations, F on 4b (1/2,0,0)a + ...) plus one Li at the tetrahedral
    interstitial site (1/4, 1/4, 1/4)a of the first conventional cell. That site is the
    centre of a cube of 4 Li and 4 F, each at a*sqrt(3)/4 = 1.768 A (a = 4.083 A); the
    octahedral holes of rock salt are the occupied lattice sites, so the tetrahedral site
    is the one free interstitial site. The interstitial is the last atom.
``lif:<n>:none``
    the same supercell without the interstitial (bulk).
``data:<label>``
    one of the study's published equilibrated structures,
    :data:`lidiff_helpers.io.data.STARTING_STRUCTURES` (``300K``, ``400K_0``, ``400K_1``,
    ``450K_0``, ``450K_1``), read with :func:`lidiff_helpers.io.data.read_lammps_data`
    (hash-checked). The files also hold the atoms' velocities (LAMMPS metal units, A/ps),
    read here by :func:`read_lammps_velocities`.
anything else
    a path: a LAMMPS ``.data`` file or any file ASE reads (first frame).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lidiff_helpers.core.units import LIF_A_STUDY_A
from lidiff_helpers.io import data

__all__ = ["LIF_A_STUDY_A", "LIF_LATTICE_A", "TETRAHEDRAL_SITE", "STUDY_TEMPERATURES_PUBLISHED",
           "StartStructure", "lif_supercell", "read_lammps_velocities",
           "load_start_structure", "study_start_structure"]

#: the study's lattice constant (A): :data:`lidiff_helpers.core.units.LIF_A_STUDY_A`, its
#: 1001-atom box edge 20.41714 A over 5 cells (this name is kept as an alias)
LIF_LATTICE_A = LIF_A_STUDY_A
#: the interstitial site, fractional coordinates of one conventional cell
TETRAHEDRAL_SITE = (0.25, 0.25, 0.25)
#: (temperature_K, replica) of every published equilibrated structure -> its label
STUDY_TEMPERATURES_PUBLISHED = {(300.0, 0): "300K", (400.0, 0): "400K_0", (400.0, 1): "400K_1",
                                (450.0, 0): "450K_0", (450.0, 1): "450K_1"}


@dataclass(frozen=True)
class StartStructure:
    """A starting structure and where it came from.

    Attributes
    ----------
    spec : the spec string it was made from (``lif:3``, ``data:450K_0``, a path)
    atoms : ASE ``Atoms`` (a copy is yours to modify)
    velocities_A_ps : (n_atoms, 3) velocities in A/ps from the file, or None
    description : one line for humans and the manifest
    sha256 : SHA256 of the file read (None for built structures)
    """

    spec: str
    atoms: object = field(repr=False)
    velocities_A_ps: np.ndarray | None = field(repr=False)
    description: str
    sha256: str | None = None


def lif_supercell(n_cells: int = 3, a_A: float = LIF_A_STUDY_A,
                  interstitial: str = "tetrahedral"):
    """An ``n_cells`` x ``n_cells`` x ``n_cells`` rock-salt LiF supercell (+ 1 Li).

    Parameters
    ----------
    n_cells : conventional cells per edge (3 -> 216 + 1 atoms, 5 -> the study's 1001)
    a_A : lattice constant in A (default: the study's, 4.083428 A)
    interstitial : ``tetrahedral`` (one extra Li at (1/4, 1/4, 1/4)a, the last atom) or
        ``none``

    Returns
    -------
    ase.Atoms with ``info["interstitial_index"]`` (or None) and ``info["source"]``.
    """
    from ase import Atoms
    from ase.build import bulk

    if int(n_cells) < 1:
        raise ValueError(f"n_cells must be >= 1, got {n_cells}")
    if interstitial not in ("tetrahedral", "none"):
        raise ValueError(f"interstitial must be 'tetrahedral' or 'none', got {interstitial!r}")
    atoms = bulk("LiF", "rocksalt", a=float(a_A), cubic=True).repeat((int(n_cells),) * 3)
    idx = None
    if interstitial == "tetrahedral":
        site = np.asarray(TETRAHEDRAL_SITE) * float(a_A)
        atoms += Atoms("Li", positions=[site])
        idx = len(atoms) - 1
    atoms.info["interstitial_index"] = idx
    atoms.info["source"] = f"lif:{int(n_cells)}:{interstitial}"
    return atoms


def read_lammps_velocities(path: str | os.PathLike) -> np.ndarray | None:
    """Velocities (A/ps, LAMMPS metal units) of a LAMMPS data file, sorted by atom id.

    The order matches :func:`lidiff_helpers.io.data.read_lammps_data` (which sorts atoms by
    id). Returns None when the file has no ``Velocities`` section.

    Raises
    ------
    lidiff_helpers.io.data.DataError
        if the section is truncated or malformed (names the file and line).
    """
    p = Path(path)
    lines = p.read_text().splitlines()
    n_atoms = None
    start = None
    for i, line in enumerate(lines):
        s = line.split("#")[0].split()
        if len(s) == 2 and s[1] == "atoms" and n_atoms is None:
            n_atoms = int(s[0])
        if line.strip().startswith("Velocities"):
            start = i + 2
            break
    if start is None:
        return None
    if n_atoms is None:
        raise data.DataError(f"{p}: no 'N atoms' line before the Velocities section")
    rows = []
    for j, line in enumerate(lines[start:start + n_atoms], start=start + 1):
        s = line.split()
        if len(s) != 4:
            raise data.DataError(f"{p}, line {j}: expected 'id vx vy vz' in the Velocities "
                                 f"section, got {line!r}")
        rows.append((int(s[0]), float(s[1]), float(s[2]), float(s[3])))
    if len(rows) != n_atoms:
        raise data.DataError(f"{p}: Velocities section has {len(rows)} rows, expected {n_atoms}")
    rows.sort(key=lambda r: r[0])
    return np.array([r[1:] for r in rows], dtype=float)


_LIF = re.compile(r"^lif:(\d+)(?::(tetrahedral|none))?$")


def load_start_structure(spec: str) -> StartStructure:
    """Build or read the starting structure named by ``spec`` (see the module docstring).

    Raises
    ------
    ValueError
        for a malformed ``lif:`` spec or an unknown ``data:`` label (lists the known ones).
    FileNotFoundError
        for a path that does not exist.
    """
    s = str(spec).strip()
    m = _LIF.match(s.lower())
    if s.lower().startswith("lif:") and not m:
        raise ValueError(f"start structure {s!r}: expected 'lif:<n>' or "
                         "'lif:<n>:tetrahedral|none' (n conventional cells per edge)")
    if m:
        n, site = int(m.group(1)), m.group(2) or "tetrahedral"
        atoms = lif_supercell(n, interstitial=site)
        what = (f"{n}x{n}x{n} rock-salt LiF (a = {LIF_A_STUDY_A:.6f} A)"
                + (" + 1 Li at the tetrahedral site (1/4,1/4,1/4)a" if site == "tetrahedral"
                   else ""))
        return StartStructure(s, atoms, None, f"built: {what}, {len(atoms)} atoms")
    from lidiff_helpers.core.provenance import sha256_file

    if s.lower().startswith("data:"):
        label = s[5:]
        if label not in data.STARTING_STRUCTURES:
            raise ValueError(f"start structure {s!r}: unknown study structure {label!r}; "
                             f"known: {sorted(data.STARTING_STRUCTURES)}")
        path = data.fetch(data.STARTING_STRUCTURES[label])
        atoms = data.read_lammps_data(path)
        desc = (f"study: {data.STARTING_STRUCTURES[label]} (MACE-MPA-0, 300 ps NVT), "
                f"{len(atoms)} atoms")
    else:
        path = Path(s).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"start structure {s!r}: no such file (use lif:<n>, "
                                    f"data:<label> with labels {sorted(data.STARTING_STRUCTURES)}"
                                    ", or a structure file)")
        if path.suffix == ".data":
            atoms = data.read_lammps_data(path)
        else:
            import ase.io

            atoms = ase.io.read(path, index=0)
        desc = f"file: {path}, {len(atoms)} atoms"
    vel = read_lammps_velocities(path) if Path(path).suffix == ".data" else None
    if vel is not None and len(vel) != len(atoms):
        raise data.DataError(f"{path}: {len(vel)} velocities for {len(atoms)} atoms")
    return StartStructure(s, atoms, vel, desc, sha256_file(path))


def study_start_structure(temperature_K: float, replica: int) -> tuple[str, bool]:
    """The study's starting structure for a run at ``temperature_K``, replica ``replica``.

    The study started every production run from a MACE-MPA-0 structure equilibrated at
    the run's temperature (one per replica); it published five of them (300 K; 400 and
    450 K, replicas 0 and 1). Returns ``(spec, exact)``: ``exact`` is True when the
    published structure is the one for this (temperature, replica) - then its velocities
    continue the study's trajectory - and False when the nearest published temperature
    (ties: the lower) stands in, replica ``r`` taking that temperature's structure
    ``r mod n``; such runs must draw new velocities (else replicas would coincide).
    """
    key = (float(temperature_K), int(replica))
    if key in STUDY_TEMPERATURES_PUBLISHED:
        return f"data:{STUDY_TEMPERATURES_PUBLISHED[key]}", True
    temps = sorted({t for t, _ in STUDY_TEMPERATURES_PUBLISHED})
    nearest = min(temps, key=lambda t: (abs(t - float(temperature_K)), t))
    labels = [v for (t, _), v in sorted(STUDY_TEMPERATURES_PUBLISHED.items()) if t == nearest]
    return f"data:{labels[int(replica) % len(labels)]}", False
