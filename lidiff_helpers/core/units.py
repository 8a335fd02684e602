r"""Units and constants: the one home of every physical constant lidiff uses.

Units follow ASE (:mod:`ase.units`): energies in eV, lengths in A, masses in amu, ASE's
internal time unit (``ase.units.fs`` per fs). Names carry their unit at every boundary
(``temperature_K``, ``D_cm2_s``, ``frame_interval_ps``). Constants are taken from
:mod:`ase.units` (its default CODATA set), never typed by hand.

LiF lattice constants
---------------------
Three rock-salt LiF lattice constants matter, and they differ by 1.4 %; each has a name:

* :data:`LIF_A_STUDY_A` = 20.41714 A / 5 = 4.0834 A: the study's MD cell (its 1001-atom
  box), where its DFT frames were computed and its MD ran. The default cell everywhere.
* :data:`LIF_A_PBE_A` = 4.06 A: the PBE lattice constant (the DFT functional of the study).
* :data:`LIF_A_EXPERIMENT_A` = 4.026 A: experiment, room temperature.

MD stability criteria
---------------------
A run is *usable* when it finished, no pair of atoms came closer than
:data:`STABILITY_MIN_PAIR_DISTANCE_A` and the mean temperature of its second half is
within :data:`STABILITY_MAX_TEMPERATURE_DEVIATION` of the target.
"""

from __future__ import annotations

from ase import units as _ase

__all__ = [
    "KB_EV_PER_K", "FS", "PS", "GPA_PER_EV_A3", "CM2_S_PER_A2_PS", "DIMENSIONS",
    "LIF_A_STUDY_A", "LIF_A_PBE_A", "LIF_A_EXPERIMENT_A", "STUDY_BOX_EDGE_A",
    "STABILITY_MIN_PAIR_DISTANCE_A", "STABILITY_MAX_TEMPERATURE_DEVIATION", "UNITS_TABLE",
    "kT_eV", "H_EV_S", "LIF_DEBYE_WALLER_B_A2", "LIF_DEBYE_WALLER_T_K",
]

#: Boltzmann constant, eV/K (ase.units.kB)
KB_EV_PER_K: float = float(_ase.kB)
#: one femtosecond / picosecond in ASE time units
FS: float = float(_ase.fs)
PS: float = 1000.0 * FS
#: Planck constant, eV s (ase.units._hplanck / ase.units._e)
H_EV_S: float = float(_ase._hplanck / _ase._e)
#: 1 eV/A^3 in GPa
GPA_PER_EV_A3: float = 1.0 / float(_ase.GPa)
#: 1 A^2/ps in cm^2/s (1e-16 cm^2 per A^2, 1e-12 s per ps)
CM2_S_PER_A2_PS: float = 1e-16 / 1e-12
#: spatial dimensions of the MSD (Einstein relation MSD = 2 d D t)
DIMENSIONS: int = 3

#: the study's 1001-atom MD box edge (5x5x5 conventional cells + 1 Li), A
STUDY_BOX_EDGE_A: float = 20.41714
#: the study's LiF lattice constant (its MD and DFT cell), A
LIF_A_STUDY_A: float = STUDY_BOX_EDGE_A / 5
#: PBE lattice constant of LiF, A
LIF_A_PBE_A: float = 4.06
#: experimental lattice constant of LiF at room temperature, A
LIF_A_EXPERIMENT_A: float = 4.026

#: room-temperature Debye-Waller factors B of LiF (A^2), approximate (diffraction studies
#: report about 0.9-1.0 for Li and 0.7-0.8 for F): they set only the scale of the thermal
#: displacements of the distillation frames (training/distillation.py), B = 8 pi^2 <u_x^2>
LIF_DEBYE_WALLER_B_A2: dict[str, float] = {"Li": 0.95, "F": 0.75}
#: temperature of those factors, K
LIF_DEBYE_WALLER_T_K: float = 295.0

#: an MD run with a pair closer than this (A) is not usable
STABILITY_MIN_PAIR_DISTANCE_A: float = 1.2
#: largest relative deviation of the second half's mean temperature from the target
STABILITY_MAX_TEMPERATURE_DEVIATION: float = 0.10

#: the units of lidiff's outputs, written into run summaries and result files
UNITS_TABLE: dict[str, str] = {
    "energy": "eV", "length": "A", "time": "ps (MD integrator step: fs)",
    "temperature": "K", "force": "eV/A (errors: meV/A)", "stress": "GPa",
    "diffusion coefficient": "cm^2/s", "activation energy": "eV", "mass": "amu",
    "frequency": "THz", "rate": "1/s",
}


def kT_eV(temperature_K: float) -> float:
    """Thermal energy k_B T in eV."""
    return KB_EV_PER_K * float(temperature_K)
