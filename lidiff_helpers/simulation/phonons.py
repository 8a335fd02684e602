"""Harmonic phonons of a cubic crystal with phonopy finite displacements.

Force constants come from phonopy's symmetry-reduced finite displacements of a supercell
of the conventional cell (for rock-salt LiF in a 2x2x2 supercell of the 8-atom cell: 64
atoms, 2 displacements), evaluated by any ASE calculator. From them:

* the band structure along the standard face-centred-cubic path
  Gamma-X-U|K-Gamma-L-W-X (Setyawan & Curtarolo, Comput. Mater. Sci. 49, 299 (2010)),
  in the reciprocal basis of the primitive cell ``primitive_matrix="F"``;
* the total density of states on a Gamma-centred mesh;
* the frequencies at Gamma: three acoustic modes (zero for translational invariance)
  and, for a two-atom basis, the triply degenerate optical mode.

No non-analytic term is added: the force fields have no Born effective charges or
dielectric tensor, so the LO-TO splitting of the polar optical mode at Gamma is absent
and the single Gamma optical frequency is the transverse-optical-like one.

Frequencies in THz (phonopy's unit with ASE's eV/A forces and amu masses); imaginary
modes are reported as negative numbers, phonopy's convention.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

__all__ = ["FCC_PATH", "FCC_POINTS", "LOTO_NOTE", "PhononResult", "phonons"]

#: high-symmetry points of the fcc Brillouin zone (primitive reciprocal basis)
FCC_POINTS = {"G": (0.0, 0.0, 0.0), "X": (0.5, 0.0, 0.5), "U": (0.625, 0.25, 0.625),
              "K": (0.375, 0.375, 0.75), "L": (0.5, 0.5, 0.5), "W": (0.5, 0.25, 0.75)}
#: standard fcc path, segments separated by breaks ('|')
FCC_PATH = (("G", "X", "U"), ("K", "G", "L", "W", "X"))
#: text for plots and tables
LOTO_NOTE = ("no LO-TO splitting: the models have no Born effective charges, so the "
             "non-analytic correction at Gamma is not applied")


@dataclass(frozen=True)
class PhononResult:
    """Phonon bands, DOS and Gamma frequencies of one model.

    Attributes
    ----------
    a_A : lattice constant of the conventional cell used, A
    supercell : supercell multiples of the conventional cell
    n_displacements : symmetry-reduced finite displacements computed
    displacement_A : displacement amplitude, A
    gamma_THz : all frequencies at Gamma, ascending, THz
    gamma_acoustic_max_THz : largest |frequency| of the 3 lowest modes at Gamma, THz
    gamma_optical_THz : mean of the optical modes at Gamma (None for one atom per cell)
    band_distances : per path segment, the path coordinate of every q point (1/A)
    band_frequencies_THz : per segment, array (n_q, n_modes)
    band_labels : labels of the segment ends, e.g. ``["G", "X", "U|K", ...]``
    dos_frequency_THz, dos_states_THz : total DOS (states per THz per primitive cell)
    min_frequency_THz : lowest frequency on the band path (negative = imaginary)
    max_drift_eV_A : largest |sum of forces| of a displaced supercell (0 for a
        translation-invariant model), eV/A
    """

    a_A: float
    supercell: tuple
    n_displacements: int
    displacement_A: float
    gamma_THz: tuple
    gamma_acoustic_max_THz: float
    gamma_optical_THz: float | None
    band_distances: tuple
    band_frequencies_THz: tuple
    band_labels: tuple
    dos_frequency_THz: tuple
    dos_states_THz: tuple
    min_frequency_THz: float
    max_drift_eV_A: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping) -> PhononResult:
        d = dict(d)
        for k in ("supercell", "gamma_THz", "band_labels", "dos_frequency_THz",
                  "dos_states_THz"):
            d[k] = tuple(d[k])
        d["band_distances"] = tuple(tuple(s) for s in d["band_distances"])
        d["band_frequencies_THz"] = tuple(tuple(tuple(r) for r in s)
                                          for s in d["band_frequencies_THz"])
        return cls(**d)


def _to_phonopy(atoms):
    from phonopy.structure.atoms import PhonopyAtoms

    return PhonopyAtoms(symbols=atoms.get_chemical_symbols(), cell=atoms.cell.array,
                        scaled_positions=atoms.get_scaled_positions(),
                        masses=atoms.get_masses())


def _band_path(npoints: int):
    from phonopy.phonon.band_structure import get_band_qpoints_and_path_connections

    path = [[list(FCC_POINTS[p]) for p in seg] for seg in FCC_PATH]
    qpoints, connections = get_band_qpoints_and_path_connections(path, npoints=npoints)
    labels = []
    for k, seg in enumerate(FCC_PATH):
        for i, p in enumerate(seg):
            name = "Γ" if p == "G" else p
            if k > 0 and i == 0:
                labels[-1] = f"{labels[-1]}|{name}"
            else:
                labels.append(name)
    return qpoints, connections, labels


def phonons(calc, atoms, supercell: Sequence[int] = (2, 2, 2), displacement_A: float = 0.01,
            primitive_matrix: str | Sequence = "F", mesh: Sequence[int] = (12, 12, 12),
            band_points: int = 51, symmetrize: bool = True, progress: bool = False
            ) -> PhononResult:
    """Phonons of a cubic crystal from finite displacements.

    Parameters
    ----------
    calc : ASE calculator (forces in eV/A)
    atoms : conventional cubic cell at its relaxed lattice constant (rock-salt LiF: 8
        atoms; fcc metal: 4 atoms)
    supercell : multiples of ``atoms`` for the force constants (2,2,2 -> 64 atoms for LiF)
    displacement_A : finite displacement, A
    primitive_matrix : phonopy primitive matrix (``"F"``: face-centred)
    mesh : q mesh of the DOS
    band_points : q points per path segment
    symmetrize : symmetrise the force constants (translational invariance and index
        permutation; makes the acoustic modes exactly zero at Gamma)
    progress : show a tqdm bar over the displacements
    """
    from phonopy import Phonopy

    ph = Phonopy(_to_phonopy(atoms), supercell_matrix=np.diag([int(s) for s in supercell]),
                 primitive_matrix=primitive_matrix)
    ph.generate_displacements(distance=float(displacement_A))
    scs = ph.supercells_with_displacements
    forces = []
    it = scs
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(scs, desc="phonopy displacements", leave=False)
    from ase import Atoms

    for sc in it:
        at = Atoms(symbols=sc.symbols, cell=sc.cell, scaled_positions=sc.scaled_positions,
                   pbc=True)
        at.calc = calc
        forces.append(np.asarray(at.get_forces(), float))
    forces = np.asarray(forces)
    drift = float(np.abs(forces.sum(axis=1)).max())
    ph.forces = forces
    ph.produce_force_constants()
    if symmetrize:
        ph.symmetrize_force_constants()

    ph.run_qpoints([[0.0, 0.0, 0.0]])
    gamma = np.sort(np.asarray(ph.get_qpoints_dict()["frequencies"][0], float))
    n_modes = gamma.size
    optical = float(np.mean(gamma[3:])) if n_modes > 3 else None

    qpoints, connections, labels = _band_path(int(band_points))
    ph.run_band_structure(qpoints, path_connections=connections, labels=labels)
    bs = ph.get_band_structure_dict()
    dists = tuple(tuple(np.asarray(d, float).tolist()) for d in bs["distances"])
    freqs = tuple(tuple(tuple(r) for r in np.asarray(f, float).tolist())
                  for f in bs["frequencies"])
    fmin = float(min(np.min(f) for f in bs["frequencies"]))

    ph.run_mesh([int(m) for m in mesh], is_gamma_center=True)
    ph.run_total_dos()
    dos = ph.get_total_dos_dict()
    return PhononResult(
        a_A=float(atoms.cell.lengths()[0]), supercell=tuple(int(s) for s in supercell),
        n_displacements=len(scs), displacement_A=float(displacement_A),
        gamma_THz=tuple(gamma.tolist()),
        gamma_acoustic_max_THz=float(np.abs(gamma[:3]).max()),
        gamma_optical_THz=optical, band_distances=dists, band_frequencies_THz=freqs,
        band_labels=tuple(labels),
        dos_frequency_THz=tuple(np.asarray(dos["frequency_points"], float).tolist()),
        dos_states_THz=tuple(np.asarray(dos["total_dos"], float).tolist()),
        min_frequency_THz=fmin, max_drift_eV_A=drift)
