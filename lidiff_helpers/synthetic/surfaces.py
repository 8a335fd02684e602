r"""Analytic energy surfaces with known minima and saddles, as ASE calculators.

Known answers for the barrier and transition-state code (:mod:`lidiff_helpers.simulation.
neb`, :mod:`lidiff_helpers.analysis.tst`): one atom moving on a surface V(x, y) plus a
harmonic confinement in z, so ASE's NEB, optimizers and ``Vibrations`` run on them
unchanged.

``DoubleWell2D``: :math:`V = A (x^2 - b^2)^2 + \tfrac12 (k_0 + k_1 x^2) y^2 +
\tfrac12 k_z z^2`; minima at :math:`(\pm b, 0, 0)`, saddle at the origin with barrier
:math:`A b^4`; curvatures :math:`V_{xx} = 8 A b^2` (minimum), :math:`-4 A b^2` (saddle),
:math:`V_{yy} = k_0 + k_1 b^2` (minimum), :math:`k_0` (saddle).

``MuellerBrown``: the Mueller-Brown surface (K. Mueller, L. D. Brown, Theor. Chim. Acta
53, 75 (1979)) times ``scale`` eV; its minima and saddles (:data:`MUELLER_BROWN_POINTS`,
MB units, to six digits) are the commonly tabulated ones; the tests check each is a
stationary point of this implementation (zero gradient) before using it.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes

__all__ = ["DoubleWell2D", "MuellerBrown", "MUELLER_BROWN_POINTS", "point_atoms"]

#: stationary points of the Mueller-Brown surface: (x, y, V) in its own units
MUELLER_BROWN_POINTS = {
    "min_A": (-0.558224, 1.441726, -146.699517),
    "min_B": (-0.050011, 0.466694, -80.767818),
    "min_C": (0.623499, 0.028038, -108.166724),
    "saddle_AB": (-0.822002, 0.624313, -40.664844),
    "saddle_BC": (0.212487, 0.292988, -72.248941),
}
_MB = (np.array([-200.0, -100.0, -170.0, 15.0]), np.array([-1.0, -1.0, -6.5, 0.7]),
       np.array([0.0, 0.0, 11.0, 0.6]), np.array([-10.0, -10.0, -6.5, 0.7]),
       np.array([1.0, 0.0, -0.5, -1.0]), np.array([0.0, 0.5, 1.5, 1.0]))


def point_atoms(x: float, y: float, symbol: str = "H") -> Atoms:
    """One atom at (x, y, 0) in a large non-periodic box (for the analytic surfaces)."""
    return Atoms(symbol, positions=[[x, y, 0.0]], cell=[20.0, 20.0, 20.0], pbc=False)


class _Surface(Calculator):
    implemented_properties = ["energy", "forces"]

    def __init__(self, kz: float = 5.0, **kw):
        super().__init__(**kw)
        self.kz = float(kz)

    def _vg(self, x: float, y: float) -> tuple[float, float, float]:
        raise NotImplementedError

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        if len(self.atoms) != 1:
            raise ValueError(f"{type(self).__name__} moves one atom; got {len(self.atoms)}")
        x, y, z = self.atoms.positions[0]
        v, gx, gy = self._vg(float(x), float(y))
        self.results["energy"] = v + 0.5 * self.kz * z * z
        self.results["forces"] = np.array([[-gx, -gy, -self.kz * z]])


class DoubleWell2D(_Surface):
    """:math:`A (x^2 - b^2)^2 + (k_0 + k_1 x^2) y^2 / 2 + k_z z^2 / 2` (eV, A)."""

    def __init__(self, A: float = 0.25, b: float = 1.0, k0: float = 2.0, k1: float = 1.0,
                 kz: float = 5.0, **kw):
        super().__init__(kz=kz, **kw)
        self.A, self.b, self.k0, self.k1 = float(A), float(b), float(k0), float(k1)

    @property
    def barrier_eV(self) -> float:
        return self.A * self.b ** 4

    def _vg(self, x, y):
        A, b, k0, k1 = self.A, self.b, self.k0, self.k1
        v = A * (x * x - b * b) ** 2 + 0.5 * (k0 + k1 * x * x) * y * y
        gx = 4 * A * x * (x * x - b * b) + k1 * x * y * y
        gy = (k0 + k1 * x * x) * y
        return v, gx, gy


class MuellerBrown(_Surface):
    """The Mueller-Brown surface times ``scale`` (eV per MB unit); x, y in A."""

    def __init__(self, scale: float = 0.01, kz: float = 5.0, **kw):
        super().__init__(kz=kz, **kw)
        self.scale = float(scale)

    def _vg(self, x, y):
        a_, a, b, c, x0, y0 = _MB
        dx, dy = x - x0, y - y0
        t = a_ * np.exp(a * dx * dx + b * dx * dy + c * dy * dy)
        v = float(t.sum())
        gx = float(np.sum(t * (2 * a * dx + b * dy)))
        gy = float(np.sum(t * (b * dx + 2 * c * dy)))
        return self.scale * v, self.scale * gx, self.scale * gy
