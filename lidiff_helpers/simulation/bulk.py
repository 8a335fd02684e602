"""Bulk LiF with a force field: lattice constant, equation of state, cubic elastic constants.

The checks of the study's Table S1 (and of the MTP workflow of Li et al., Mater. Horiz.
2025) on the perfect rock-salt crystal, for any ASE calculator:

Lattice constant
    :func:`relaxed_lattice_constant` minimises the energy of the cubic cell over its
    edge ``a`` (rock salt has no free internal coordinate: every ion sits on an inversion
    centre, so a uniform scaling of the cell is the full relaxation).
Equation of state
    :func:`equation_of_state` samples ``E(V)`` of the conventional 8-atom cell around
    ``a0`` and fits the third-order Birch-Murnaghan form (``ase.eos``)::

        E(V) = E0 + 9 V0 B0 / 16 {[(V0/V)^(2/3) - 1]^3 B0' + [(V0/V)^(2/3) - 1]^2
               [6 - 4 (V0/V)^(2/3)]}

    giving ``a0 = V0^(1/3)`` (A) and ``B0`` (GPa). :func:`eos_fit` is the fit alone.
Elastic constants
    :func:`elastic_constants` applies small positive and negative strains ``+-d`` to each
    of the six Voigt components (shear as engineering strain ``gamma = 2 eps_ij``) and
    takes ``C_ij = d sigma_i / d eps_j`` from a straight-line fit of the ASE stress
    (``sigma = (1/V) dE/deps``; tension positive). For a cubic crystal
    ``C11 = C22 = C33``, ``C12 = C13 = C23``, ``C44 = C55 = C66`` and
    ``B = (C11 + 2 C12) / 3``, which must agree with the EOS bulk modulus.

The Table S1 assembly (:func:`table_s1`) lives here too; the model list is
:func:`lidiff_helpers.simulation.model_set.models_to_compare` (``validation_models`` here)
and the on-disk cache :mod:`lidiff_helpers.core.cache` (``cached_json``, ``cached_call``
re-exported here).
Units: A, eV, GPa (converted once, with ``ase.units.GPa``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from ase import Atoms, units

from lidiff_helpers.core.cache import cached_call, cached_json
from lidiff_helpers.core.units import LIF_A_PBE_A
from lidiff_helpers.simulation.model_set import ModelEntry, models_to_compare

__all__ = [
    "LIF_A_GUESS_A",
    "TABLE_S1_COLUMNS",
    "EOSResult",
    "ElasticResult",
    "LatticeResult",
    "ModelEntry",
    "birch_murnaghan_energy",
    "cached_call",
    "cached_json",
    "elastic_constants",
    "eos_fit",
    "equation_of_state",
    "lattice_properties",
    "reference_rows",
    "relaxed_lattice_constant",
    "rocksalt_lif",
    "strain_matrix",
    "table_row",
    "table_s1",
    "validation_models",
]

#: starting guess of the LiF lattice constant (A): the PBE value
#: (:data:`lidiff_helpers.core.units.LIF_A_PBE_A`, 4.06 A)
LIF_A_GUESS_A = LIF_A_PBE_A

_VOIGT = ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))


def rocksalt_lif(a_A: float = LIF_A_GUESS_A, repeat: int = 1) -> Atoms:
    """The conventional rock-salt LiF cell (4 Li + 4 F) of edge ``a_A``, repeated."""
    from ase.build import bulk as _bulk

    at = _bulk("LiF", "rocksalt", a=float(a_A), cubic=True)
    return at.repeat(int(repeat)) if repeat != 1 else at


def _energy(atoms: Atoms, calc) -> float:
    at = atoms.copy()
    at.calc = calc
    return float(at.get_potential_energy())


def _scaled(atoms: Atoms, factor: float) -> Atoms:
    at = atoms.copy()
    at.set_cell(atoms.cell.array * factor, scale_atoms=True)
    return at


# ----------------------------------------------------------------------------- EOS

@dataclass(frozen=True)
class EOSResult:
    """A Birch-Murnaghan fit of ``E(V)`` of a cubic cell.

    Attributes
    ----------
    a0_A : lattice constant at the fitted minimum (edge of the cubic cell), A
    V0_A3 : volume of the cell at the minimum, A^3
    B_GPa : bulk modulus at ``V0``, GPa
    Bprime : its pressure derivative (dimensionless)
    E0_eV : energy of the cell at the minimum, eV
    n_atoms : atoms in the cell
    volumes_A3, energies_eV : the sampled points (cell volume, cell energy)
    eos : the ``ase.eos`` form used
    """

    a0_A: float
    V0_A3: float
    B_GPa: float
    Bprime: float
    E0_eV: float
    n_atoms: int
    volumes_A3: tuple
    energies_eV: tuple
    eos: str = "birchmurnaghan"

    def energy_eV(self, volumes_A3) -> np.ndarray:
        """The fitted curve at ``volumes_A3`` (cell volume, A^3), eV per cell."""
        return birch_murnaghan_energy(np.asarray(volumes_A3, float), self.E0_eV,
                                      self.B_GPa * units.GPa, self.Bprime, self.V0_A3)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping) -> EOSResult:
        d = dict(d)
        d["volumes_A3"], d["energies_eV"] = tuple(d["volumes_A3"]), tuple(d["energies_eV"])
        return cls(**d)


def birch_murnaghan_energy(V_A3, E0_eV: float, B0_eV_A3: float, Bprime: float,
                           V0_A3: float) -> np.ndarray:
    """Third-order Birch-Murnaghan energy (eV) at volumes ``V_A3``; ``B0`` in eV/A^3."""
    eta = (V0_A3 / np.asarray(V_A3, float)) ** (2.0 / 3.0)
    return E0_eV + 9.0 * V0_A3 * B0_eV_A3 / 16.0 * (
        (eta - 1.0) ** 3 * Bprime + (eta - 1.0) ** 2 * (6.0 - 4.0 * eta))


def eos_fit(volumes_A3: Sequence[float], energies_eV: Sequence[float], n_atoms: int,
            eos: str = "birchmurnaghan") -> EOSResult:
    """Fit ``E(V)`` of a cubic cell with ``ase.eos`` and return a0 (A), B (GPa).

    Raises
    ------
    ValueError
        fewer than 5 points, non-finite energies, or a minimum outside the sampled
        volumes (the fit is then an extrapolation and is refused).
    """
    from ase.eos import EquationOfState

    v = np.asarray(volumes_A3, float)
    e = np.asarray(energies_eV, float)
    if v.size < 5 or v.shape != e.shape:
        raise ValueError(f"EOS fit needs >= 5 (volume, energy) pairs, got {v.size}/{e.size}")
    if not np.isfinite(e).all():
        raise ValueError(f"EOS fit: non-finite energies {e.tolist()}")
    eq = EquationOfState(v, e, eos=eos)
    eq.fit(warn=False)
    v0 = float(eq.v0)
    if not v.min() < v0 < v.max():
        raise ValueError(f"EOS fit: minimum at V = {v0:.3f} A^3 lies outside the sampled "
                         f"volumes [{v.min():.3f}, {v.max():.3f}] A^3; widen or re-centre "
                         "the strain range")
    params = np.asarray(eq.eos_parameters, float)
    bprime = float(params[2]) if eos in ("birchmurnaghan", "murnaghan", "vinet") else float("nan")
    return EOSResult(a0_A=v0 ** (1.0 / 3.0), V0_A3=v0, B_GPa=float(eq.B) / units.GPa,
                     Bprime=bprime, E0_eV=float(eq.e0), n_atoms=int(n_atoms),
                     volumes_A3=tuple(v.tolist()), energies_eV=tuple(e.tolist()), eos=eos)


def relaxed_lattice_constant(calc, atoms: Atoms | None = None, a_guess_A: float | None = None,
                             window: float = 0.15, tol_A: float = 1e-5) -> float:
    """Lattice constant (A) minimising the energy of a cubic cell under uniform scaling.

    Parameters
    ----------
    calc : ASE calculator
    atoms : a cubic cell (default: conventional rock-salt LiF at ``a_guess_A``)
    a_guess_A : starting edge (default: the cell's edge)
    window : search ``a`` within ``a_guess * (1 -+ window)``
    tol_A : tolerance on ``a``

    Raises
    ------
    ValueError
        if ``atoms`` is not cubic, or the minimum sits at the edge of the window (the
        model has no minimum near ``a_guess``).
    """
    from scipy.optimize import minimize_scalar

    atoms = rocksalt_lif(a_guess_A or LIF_A_GUESS_A) if atoms is None else atoms
    lengths, angles = atoms.cell.lengths(), atoms.cell.angles()
    if not (np.allclose(lengths, lengths[0], rtol=1e-6) and np.allclose(angles, 90.0)):
        raise ValueError(f"relaxed_lattice_constant needs a cubic cell, got lengths "
                         f"{lengths} A and angles {angles} deg")
    a_cell = float(lengths[0])
    a_guess = float(a_guess_A or a_cell)
    lo, hi = a_guess * (1 - window), a_guess * (1 + window)
    res = minimize_scalar(lambda a: _energy(_scaled(atoms, a / a_cell), calc),
                          bounds=(lo, hi), method="bounded", options={"xatol": tol_A})
    a0 = float(res.x)
    if min(a0 - lo, hi - a0) < 10 * tol_A:
        raise ValueError(f"relaxed_lattice_constant: energy minimum at the edge of the "
                         f"search window [{lo:.3f}, {hi:.3f}] A (a = {a0:.4f} A); the model "
                         "has no minimum near the guess")
    return a0


def equation_of_state(calc, atoms: Atoms | None = None, a0_A: float | None = None,
                      strain_range: float = 0.03, n_points: int = 9,
                      eos: str = "birchmurnaghan") -> EOSResult:
    """Sample and fit ``E(V)`` of a cubic cell (default: conventional 8-atom LiF).

    Parameters
    ----------
    calc : ASE calculator
    atoms : cubic cell; its edge is rescaled to ``a0_A``
    a0_A : centre of the scan (default: :func:`relaxed_lattice_constant`)
    strain_range : linear strains from ``-strain_range`` to ``+strain_range`` around a0
    n_points : number of volumes
    """
    atoms = rocksalt_lif() if atoms is None else atoms
    a_cell = float(atoms.cell.lengths()[0])
    if a0_A is None:
        a0_A = relaxed_lattice_constant(calc, atoms)
    factors = np.linspace(1 - strain_range, 1 + strain_range, int(n_points)) * a0_A / a_cell
    vols, ens = [], []
    for f in factors:
        at = _scaled(atoms, f)
        vols.append(at.get_volume())
        ens.append(_energy(at, calc))
    return eos_fit(vols, ens, len(atoms), eos=eos)


# ----------------------------------------------------------------------------- elastic

@dataclass(frozen=True)
class ElasticResult:
    """Elastic constants from stress-strain finite differences.

    Attributes
    ----------
    C_GPa : full 6x6 Voigt matrix (rows: stress component, columns: strain), GPa
    C11_GPa, C12_GPa, C44_GPa : cubic averages of the matching entries, GPa
    B_GPa : (C11 + 2 C12) / 3, GPa
    cubic_deviation_GPa : largest |C_ij - C_ij(cubic ideal)| over all 36 entries, GPa
        (0 for an exactly cubic response; measures noise and symmetry breaking)
    a_A : edge of the cubic cell that was strained, A
    strains : the strains applied (engineering strain for shears)
    residual_stress_GPa : Voigt stress of the unstrained cell, GPa
    """

    C_GPa: tuple
    C11_GPa: float
    C12_GPa: float
    C44_GPa: float
    B_GPa: float
    cubic_deviation_GPa: float
    a_A: float
    strains: tuple
    residual_stress_GPa: tuple

    @property
    def C(self) -> np.ndarray:
        return np.asarray(self.C_GPa, float)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping) -> ElasticResult:
        d = dict(d)
        d["C_GPa"] = tuple(tuple(r) for r in d["C_GPa"])
        d["strains"] = tuple(d["strains"])
        d["residual_stress_GPa"] = tuple(d["residual_stress_GPa"])
        return cls(**d)


def strain_matrix(component: int, magnitude: float) -> np.ndarray:
    """Symmetric 3x3 strain for one Voigt component (0-5: xx yy zz yz xz xy).

    Shears use the engineering convention: ``magnitude`` is ``gamma = 2 eps_ij``.
    """
    i, j = _VOIGT[component]
    eps = np.zeros((3, 3))
    if i == j:
        eps[i, i] = magnitude
    else:
        eps[i, j] = eps[j, i] = magnitude / 2.0
    return eps


def _stress_voigt(atoms: Atoms, calc, relax_ions: bool, fmax_eV_A: float) -> np.ndarray:
    at = atoms.copy()
    at.calc = calc
    if relax_ions:
        from ase.optimize import BFGS

        BFGS(at, logfile=None).run(fmax=fmax_eV_A, steps=200)
    return np.asarray(at.get_stress(voigt=True), float)  # xx yy zz yz xz xy, eV/A^3


def cubic_average(C: np.ndarray) -> tuple[float, float, float]:
    """(C11, C12, C44) averaged over the cubic-equivalent entries of a 6x6 matrix."""
    C = np.asarray(C, float)
    c11 = float(np.mean([C[k, k] for k in range(3)]))
    c12 = float(np.mean([C[i, j] for i in range(3) for j in range(3) if i != j]))
    c44 = float(np.mean([C[k, k] for k in range(3, 6)]))
    return c11, c12, c44


def _cubic_ideal(c11: float, c12: float, c44: float) -> np.ndarray:
    C = np.zeros((6, 6))
    C[:3, :3] = c12
    C[range(3), range(3)] = c11
    C[range(3, 6), range(3, 6)] = c44
    return C


def elastic_constants(calc, atoms: Atoms | None = None, a_A: float | None = None,
                      strains: Sequence[float] = (-0.01, -0.005, 0.005, 0.01),
                      relax_ions: bool = False, fmax_eV_A: float = 1e-3) -> ElasticResult:
    """Cubic elastic constants by stress-strain finite differences.

    Parameters
    ----------
    calc : ASE calculator with stress
    atoms : cubic cell (default: conventional rock-salt LiF); rescaled to ``a_A``
    a_A : cell edge to strain, normally the relaxed lattice constant
    strains : strain magnitudes, positive and negative (symmetric sets cancel the
        quadratic term of sigma(eps))
    relax_ions : relax internal coordinates at each strain (not needed for rock salt or
        fcc metals, whose ions sit on inversion centres)
    fmax_eV_A : force tolerance of that relaxation

    Returns
    -------
    ElasticResult
        ``C_ij`` is the slope of a least-squares line of ``sigma_i`` against ``eps_j``.
    """
    strains = tuple(float(s) for s in strains)
    if not (any(s > 0 for s in strains) and any(s < 0 for s in strains)):
        raise ValueError(f"elastic_constants needs positive and negative strains, got {strains}")
    atoms = rocksalt_lif() if atoms is None else atoms
    if a_A is not None:
        atoms = _scaled(atoms, float(a_A) / float(atoms.cell.lengths()[0]))
    cell0 = atoms.cell.array.copy()
    s0 = _stress_voigt(atoms, calc, relax_ions, fmax_eV_A)
    C = np.zeros((6, 6))
    for j in range(6):
        sig = []
        for d in strains:
            at = atoms.copy()
            at.set_cell(cell0 @ (np.eye(3) + strain_matrix(j, d)), scale_atoms=True)
            sig.append(_stress_voigt(at, calc, relax_ions, fmax_eV_A))
        sig = np.asarray(sig)
        for i in range(6):
            C[i, j] = np.polyfit(np.asarray(strains), sig[:, i], 1)[0]
    C /= units.GPa
    c11, c12, c44 = cubic_average(C)
    dev = float(np.abs(C - _cubic_ideal(c11, c12, c44)).max())
    return ElasticResult(C_GPa=tuple(tuple(r) for r in C.tolist()), C11_GPa=c11, C12_GPa=c12,
                         C44_GPa=c44, B_GPa=(c11 + 2 * c12) / 3.0, cubic_deviation_GPa=dev,
                         a_A=float(atoms.cell.lengths()[0]), strains=strains,
                         residual_stress_GPa=tuple((s0 / units.GPa).tolist()))


@dataclass(frozen=True)
class LatticeResult:
    """Relaxed lattice constant, EOS and elastic constants of one model.

    Attributes
    ----------
    a_relaxed_A : energy-minimising edge of the conventional cell, A
    eos : :class:`EOSResult` around it
    elastic : :class:`ElasticResult` at ``a_relaxed_A``
    """

    a_relaxed_A: float
    eos: EOSResult
    elastic: ElasticResult

    def to_dict(self) -> dict:
        return {"a_relaxed_A": self.a_relaxed_A, "eos": self.eos.to_dict(),
                "elastic": self.elastic.to_dict()}

    @classmethod
    def from_dict(cls, d: Mapping) -> LatticeResult:
        return cls(float(d["a_relaxed_A"]), EOSResult.from_dict(d["eos"]),
                   ElasticResult.from_dict(d["elastic"]))


def lattice_properties(calc, atoms: Atoms | None = None, a_guess_A: float = LIF_A_GUESS_A,
                       strain_range: float = 0.03, n_points: int = 9,
                       strains: Sequence[float] = (-0.01, -0.005, 0.005, 0.01)
                       ) -> LatticeResult:
    """:func:`relaxed_lattice_constant`, then :func:`equation_of_state` around it and
    :func:`elastic_constants` at it (default cell: conventional rock-salt LiF)."""
    atoms = rocksalt_lif(a_guess_A) if atoms is None else atoms
    a0 = relaxed_lattice_constant(calc, atoms, a_guess_A=a_guess_A)
    eos = equation_of_state(calc, atoms, a0_A=a0, strain_range=strain_range,
                            n_points=n_points)
    el = elastic_constants(calc, atoms, a_A=a0, strains=strains)
    return LatticeResult(a0, eos, el)


# ----------------------------------------------------------------------------- models

def validation_models(foundation_model: str, extra_models: Iterable[str] = (),
                      registered: Iterable[Mapping] = ()) -> list[ModelEntry]:
    """The models notebook 01 validates: :func:`lidiff_helpers.simulation.model_set.
    models_to_compare` with the given registry entries (the one rule: same weights SHA256
    kept once, first occurrence wins; labels made unique with ``-2``, ``-3``)."""
    return models_to_compare(foundation_model, list(extra_models or ()),
                             registered=list(registered or ()))


# ----------------------------------------------------------------------------- table

#: Table S1 columns with their units (model rows)
TABLE_S1_COLUMNS = (
    "a0_A", "B_eos_GPa", "C11_GPa", "C12_GPa", "C44_GPa", "B_elastic_GPa",
    "nu_TO_Gamma_THz", "rdf_peak_LiF_A", "rdf_peak_LiLi_A", "rdf_peak_FF_A",
    "E_rmse_bulk_meV_atom", "E_rmse_interstitial_meV_atom", "F_rmse_bulk_meV_A",
    "F_rmse_interstitial_meV_A", "S_rmse_bulk_GPa", "S_rmse_interstitial_GPa",
)


def reference_rows() -> list[dict]:
    """Table S1 reference rows from :mod:`lidiff_helpers.core.reference` (bulk-LiF section)."""
    from lidiff_helpers.core import reference as ref

    rows = []
    for row in ref.BULK_LIF_TABLE_ROWS:
        out = {"model": row["label"], "kind": "reference"}
        notes = []
        for col, name in row["values"].items():
            val = ref.BULK_LIF[name]
            out[col] = val.display()
            notes.append(f"{col}: {val.source_note()}")
        out["notes"] = "; ".join(notes)
        rows.append(out)
    return rows


def table_row(label: str, lattice: LatticeResult | None = None, phonon=None, rdf=None,
              parity_rows: Sequence[Mapping] | None = None, offset=None) -> dict:
    """One model row of :func:`table_s1` from the results of notebook 01 (any may be None:
    the cell is then left empty, never filled with a guess)."""
    row: dict[str, Any] = {"model": label, "kind": "model"}
    if lattice is not None:
        row.update(a0_A=lattice.eos.a0_A, B_eos_GPa=lattice.eos.B_GPa,
                   C11_GPa=lattice.elastic.C11_GPa, C12_GPa=lattice.elastic.C12_GPa,
                   C44_GPa=lattice.elastic.C44_GPa, B_elastic_GPa=lattice.elastic.B_GPa)
    if phonon is not None:
        row["nu_TO_Gamma_THz"] = phonon.gamma_optical_THz
    if rdf is not None:
        row.update(rdf_peak_LiF_A=rdf.peaks_A.get("Li-F"),
                   rdf_peak_LiLi_A=rdf.peaks_A.get("Li-Li"),
                   rdf_peak_FF_A=rdf.peaks_A.get("F-F"))
    for r in parity_rows or ():
        if r["kind"] in ("bulk", "interstitial"):
            k = r["kind"]
            row[f"E_rmse_{k}_meV_atom"] = r["E_rmse_meV_atom"]
            row[f"F_rmse_{k}_meV_A"] = r["F_rmse_meV_A"]
            row[f"S_rmse_{k}_GPa"] = r["S_rmse_GPa"]
            row[f"n_parity_{k}"] = r["n_frames"]
    if offset is not None:
        row["energy_offset"] = offset.short()
    return row


def table_s1(model_rows: Sequence[Mapping[str, Any]], with_references: bool = True,
             digits: int = 4):
    """Table S1-style DataFrame: one row per model, then the reference rows.

    ``model_rows`` are mappings with ``model`` and any of :data:`TABLE_S1_COLUMNS` (plus
    free text columns such as ``energy_offset``). Numbers are rounded to ``digits``
    significant figures; missing values stay empty (never filled in).
    """
    import pandas as pd

    rows = [{"model": r["model"], "kind": r.get("kind", "model"), **{
        k: v for k, v in r.items() if k not in ("model", "kind")}} for r in model_rows]
    if with_references:
        rows += reference_rows()
    df = pd.DataFrame(rows)
    cols = ["model", "kind"] + [c for c in TABLE_S1_COLUMNS if c in df.columns]
    cols += [c for c in df.columns if c not in cols]
    df = df[cols]

    def fmt(v):
        if isinstance(v, (float, np.floating)) and np.isfinite(v):
            return float(f"{v:.{digits}g}")
        return v

    return df.apply(lambda col: col.map(fmt))
