r"""Harmonic transition-state theory: Vineyard prefactor, hop rate, defect diffusivity.

Vineyard (J. Phys. Chem. Solids 3, 121 (1957)): with the normal-mode frequencies
:math:`\nu_i` at the minimum (3N real) and :math:`\nu'_j` at the first-order saddle
(3N - 1 real, one imaginary),

.. math:: \Gamma = \nu^* \exp(-E_a / k_B T), \qquad
          \nu^* = \prod_{i=1}^{3N} \nu_i \Big/ \prod_{j=1}^{3N-1} \nu'_j ,

with :math:`E_a` the static barrier (NEB saddle energy minus minimum energy, eV).

For one interstitial the defect diffusivity in lidiff's ``"defect"`` convention
(:mod:`lidiff_helpers.analysis.diffusion`: the summed Li mean squared displacement over
6t) follows from the rate of one jump channel :math:`\Gamma`, the number of equivalent
channels from a state :math:`z` and the summed squared Li displacement of one event
:math:`\Sigma = \sum_i |\Delta \mathbf r_i|^2` (two Li for a knock-off, one for a direct
hop), assuming uncorrelated events:

.. math:: D_\mathrm{defect} = z \, \Gamma \, \Sigma / 6 .

Caveats: harmonic (no anharmonic or quantum corrections), static barrier (no zero-point
or thermal expansion), uncorrelated jumps (no correlation factor: a knock-off's
correlation lowers the tracer D, not the defect D), and here a *partial* Hessian over
the moving atoms and their neighbours (the rest fixed), the usual approximation whose
size the caller chooses. Frequencies come in as ASE ``Vibrations.get_energies()`` values
(eV, complex for imaginary modes).

Pure functions over arrays; no I/O, no torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lidiff_helpers.core.errors import InputError
from lidiff_helpers.core.units import CM2_S_PER_A2_PS, DIMENSIONS, H_EV_S, kT_eV

__all__ = ["HarmonicTST", "vineyard", "rate_per_s", "defect_diffusivity_cm2_s"]

#: a mode whose |energy| is below this (eV; 0.1 meV ~ 0.024 THz) counts as zero
ZERO_MODE_EV = 1e-4


@dataclass(frozen=True)
class HarmonicTST:
    """Vineyard's harmonic TST of one hop.

    Attributes
    ----------
    prefactor_THz : Vineyard prefactor nu*, THz
    imaginary_THz : the saddle's imaginary mode, THz (as a positive number)
    n_modes : modes at the minimum (= at the saddle)
    lowest_min_THz, lowest_saddle_THz : the softest real mode at the minimum / saddle, THz
    """

    prefactor_THz: float
    imaginary_THz: float
    n_modes: int
    lowest_min_THz: float
    lowest_saddle_THz: float


def _split(mode_energies_eV: Sequence, where: str) -> tuple[np.ndarray, np.ndarray]:
    e = np.asarray(mode_energies_eV, dtype=complex).ravel()
    if e.size == 0:
        raise InputError(f"{where}: no vibrational modes given")
    if not np.all(np.isfinite(e)):
        raise InputError(f"{where}: non-finite mode energies")
    imag = np.abs(e.imag) > np.abs(e.real)
    return np.abs(e[~imag].real), np.abs(e[imag].imag)


def vineyard(mode_energies_min_eV: Sequence, mode_energies_saddle_eV: Sequence,
             zero_mode_eV: float = ZERO_MODE_EV) -> HarmonicTST:
    """Vineyard prefactor from the mode energies (eV) at the minimum and at the saddle.

    Raises
    ------
    lidiff_helpers.core.errors.InputError
        unequal numbers of modes; an imaginary or zero mode at the minimum (not a
        minimum: relax it, or a free translation left in the Hessian); not exactly one
        imaginary mode at the saddle (not a first-order saddle: the NEB did not converge
        or found another path); a zero real mode at the saddle.
    """
    rmin, imin = _split(mode_energies_min_eV, "minimum")
    rsad, isad = _split(mode_energies_saddle_eV, "saddle")
    n = rmin.size + imin.size
    if n != rsad.size + isad.size:
        raise InputError(f"the minimum has {n} modes but the saddle "
                         f"{rsad.size + isad.size}: use the same atoms for both Hessians")
    if imin.size or np.any(rmin < zero_mode_eV):
        raise InputError(f"minimum: {imin.size} imaginary and {int(np.sum(rmin < zero_mode_eV))}"
                         f" zero modes (|E| < {zero_mode_eV} eV); a minimum has neither")
    if isad.size != 1 or isad[0] < zero_mode_eV:
        raise InputError(f"saddle: {isad.size} imaginary modes (largest "
                         f"{(isad.max() if isad.size else 0.0) * 1e3:.2f} meV); a first-order "
                         "saddle has exactly one: the NEB's climbing image is not converged "
                         "or not a saddle")
    if np.any(rsad < zero_mode_eV):
        raise InputError(f"saddle: {int(np.sum(rsad < zero_mode_eV))} zero real modes")
    to_thz = 1.0 / H_EV_S / 1e12
    # ratio of products as a sum of logs (3N factors of ~10 THz overflow nothing, but
    # stay exact)
    log_nu = np.sum(np.log(rmin * to_thz)) - np.sum(np.log(rsad * to_thz))
    return HarmonicTST(prefactor_THz=float(np.exp(log_nu)),
                       imaginary_THz=float(isad[0] * to_thz), n_modes=n,
                       lowest_min_THz=float(rmin.min() * to_thz),
                       lowest_saddle_THz=float(rsad.min() * to_thz))


def rate_per_s(prefactor_THz: float, barrier_eV: float, temperature_K: float) -> float:
    """Hop rate of one channel, 1/s: nu* exp(-E_a / k_B T)."""
    if temperature_K <= 0:
        raise InputError(f"temperature_K must be > 0, got {temperature_K}")
    return float(prefactor_THz) * 1e12 * float(np.exp(-float(barrier_eV)
                                                      / kT_eV(temperature_K)))


def defect_diffusivity_cm2_s(rate_s: float, multiplicity: int,
                             sum_sq_displacement_A2: float) -> float:
    """D of the defect (lidiff's ``"defect"`` convention), cm^2/s: z Gamma Sigma / (2 d).

    ``sum_sq_displacement_A2``: summed squared displacement of the Li atoms in one event
    (A^2); ``multiplicity``: equivalent channels from one state.
    """
    if multiplicity < 1 or sum_sq_displacement_A2 <= 0:
        raise InputError(f"multiplicity ({multiplicity}) must be >= 1 and the summed squared "
                         f"displacement ({sum_sq_displacement_A2} A^2) > 0")
    A2_per_ps = multiplicity * rate_s * 1e-12 * sum_sq_displacement_A2 / (2 * DIMENSIONS)
    return float(A2_per_ps * CM2_S_PER_A2_PS)
