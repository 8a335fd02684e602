r"""Migration barriers of one interstitial Li in rock-salt LiF: climbing-image NEB.

Built on ASE only: ``ase.mep.NEB`` (climbing image, improved tangent, IDPP
interpolation), ``ase.optimize`` (FIRE for the band, BFGS for the end states) and
``ase.vibrations.Vibrations`` for the harmonic transition-state theory
(:mod:`lidiff_helpers.analysis.tst`). Nothing is reimplemented.

Geometry (:func:`lidiff_helpers.simulation.structures.lif_supercell`): an n x n x n
conventional rock-salt cell (lattice constant ``a_A``, by default the study's MD cell
20.41714 A / 5, where its DFT frames were computed) plus one Li on the tetrahedral site
T = (1/4, 1/4, 1/4) a, coordinated by 4 Li and 4 F at a sqrt(3)/4. Mechanisms:

``knockoff-collinear``
    the study's Figure 1 (interstitialcy): the interstitial takes the site of its
    lattice neighbour L = (0, 0, 0) while that Li moves on, along the same [111] line, to
    the tetrahedral site beyond L. 4 equivalent channels per state.
``knockoff-70deg``, ``knockoff-109deg``
    the non-collinear knock-offs: the displaced Li leaves L for one of the other
    tetrahedral sites around L, at 70.5 or 109.5 degrees from the incoming direction.
    4 x 3 channels each.
``direct``
    the interstitial hops to a neighbouring tetrahedral site (a/2 away, through the
    centre of a Li2F2 square). 6 channels.

Every knock-off moves two Li by a sqrt(3)/4 each (summed squared displacement
3 a^2 / 8 = 6.25 A^2 at the study's a), the direct hop one Li by a/2. Initial and final
states are equivalent by symmetry (an interstitial on a tetrahedral site), so their
relaxed energies must agree: :attr:`NEBResult.endpoint_asymmetry_eV` reports the
difference and :func:`barrier` flags it. End states are relaxed at fixed cell.

The barrier is the climbing image's energy minus the relaxed initial state's (static,
0 K). Units: eV, A, eV/A.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from lidiff_helpers.core.errors import InputError, ParameterError
from lidiff_helpers.core.units import LIF_A_STUDY_A

__all__ = ["MECHANISMS", "Mechanism", "NEBSettings", "NEBResult", "endpoints",
           "relax", "run_neb", "barrier", "local_indices", "sum_sq_displacement_A2",
           "harmonic_modes", "inversion_map", "invert"]


@dataclass(frozen=True)
class Mechanism:
    """A migration mechanism: how the final state is made from the initial one.

    ``out_signs``: direction (in units of a/4) of the displaced lattice Li from its site
    L; None for the direct hop. ``multiplicity``: equivalent channels from one state.
    ``n_moving``: Li atoms that change site.
    """

    name: str
    out_signs: tuple[int, int, int] | None
    multiplicity: int
    n_moving: int
    description: str


MECHANISMS: dict[str, Mechanism] = {m.name: m for m in (
    Mechanism("knockoff-collinear", (-1, -1, -1), 4, 2,
              "interstitialcy along [111]: the displaced Li continues in a straight line"),
    Mechanism("knockoff-70deg", (-1, -1, 1), 12, 2,
              "non-collinear interstitialcy, 70.5 degrees between the two jumps"),
    Mechanism("knockoff-109deg", (-1, 1, 1), 12, 2,
              "non-collinear interstitialcy, 109.5 degrees between the two jumps"),
    Mechanism("direct", None, 6, 1,
              "direct hop to a neighbouring tetrahedral site (a/2)"),
)}


@dataclass(frozen=True)
class NEBSettings:
    """How hard to converge (every profile names its own).

    n_images : intermediate images; fmax_eV_A : force threshold of the climbing band and
    the end states; pre_fmax_eV_A : threshold of the band before climbing; max_steps :
    optimizer steps per stage; spring_eV_A2 : spring constant; optimizer : ``fire`` (ASE's
    FIRE, robust) or ``bfgs`` (ASE's BFGS on the band: fewer force calls near a converged
    band); climb_from_start : no plain-band stage (a starting band already converged
    with another model).

    Force calls of each choice on one set-up (the DFT NEB's, a model standing in for
    DFT): ``benchmarks/RESULTS_neb_optimizers.json`` (``benchmarks/bench_neb_optimizers.py``).
    """

    n_images: int = 5
    fmax_eV_A: float = 0.03
    pre_fmax_eV_A: float = 0.2
    max_steps: int = 400
    spring_eV_A2: float = 0.1
    optimizer: str = "fire"
    climb_from_start: bool = False

    def __post_init__(self):
        if self.optimizer not in ("fire", "bfgs"):
            raise ParameterError(f"NEB optimizer {self.optimizer!r}: use fire or bfgs")
        if self.n_images < 1 or self.max_steps < 1:
            raise ParameterError(f"NEB needs n_images >= 1 and max_steps >= 1 (got "
                                 f"{self.n_images}, {self.max_steps})")
        if not 0 < self.fmax_eV_A <= self.pre_fmax_eV_A:
            raise ParameterError(f"need 0 < fmax_eV_A ({self.fmax_eV_A}) <= pre_fmax_eV_A "
                                 f"({self.pre_fmax_eV_A})")


@dataclass(frozen=True)
class NEBResult:
    """One climbing-image NEB.

    Attributes
    ----------
    mechanism : name in :data:`MECHANISMS` (or ``custom``)
    barrier_eV : saddle (climbing image) minus relaxed initial energy, eV
    reverse_barrier_eV : saddle minus relaxed final energy, eV
    endpoint_asymmetry_eV : E(final) - E(initial), eV (0 for equivalent end states)
    energies_eV : image energies relative to the initial state, eV
    path_A : cumulative distance along the band (mic), A
    climbing_index : index of the climbing image in the band
    climbing_fmax_eV_A : largest atomic force on the climbing image at the end, eV/A
    converged : the climbing band reached ``fmax_eV_A``
    n_steps : optimizer steps (both stages)
    images : the band (ase.Atoms, without calculators)
    moving : indices of the Li atoms that change site
    """

    mechanism: str
    barrier_eV: float
    reverse_barrier_eV: float
    endpoint_asymmetry_eV: float
    energies_eV: tuple
    path_A: tuple
    climbing_index: int
    climbing_fmax_eV_A: float
    converged: bool
    n_steps: int
    images: list = field(repr=False, compare=False)
    moving: tuple = ()

    @property
    def saddle(self):
        """The climbing image (ase.Atoms)."""
        return self.images[self.climbing_index]

    def summary(self) -> dict:
        """JSON-ready values (no structures)."""
        return {"mechanism": self.mechanism, "barrier_eV": self.barrier_eV,
                "reverse_barrier_eV": self.reverse_barrier_eV,
                "endpoint_asymmetry_eV": self.endpoint_asymmetry_eV,
                "energies_eV": list(self.energies_eV), "path_A": list(self.path_A),
                "climbing_index": self.climbing_index,
                "climbing_fmax_eV_A": self.climbing_fmax_eV_A,
                "converged": self.converged, "n_steps": self.n_steps,
                "moving": list(self.moving)}


def _lattice_li_at_origin(atoms, interstitial: int) -> int:
    """The lattice Li at (0, 0, 0): a neighbour of the tetrahedral site (1/4, 1/4, 1/4)a."""
    d = np.linalg.norm(atoms.positions, axis=1)
    li = [i for i in np.argsort(d) if atoms.numbers[i] == 3 and i != interstitial]
    return int(li[0])


def endpoints(mechanism: str, n_cells: int = 2, a_A: float = LIF_A_STUDY_A):
    """Unrelaxed initial and final states of ``mechanism`` and the moving Li indices.

    Returns ``(initial, final, moving)``: ase.Atoms (the interstitial is the last atom)
    and the indices of the Li that change site (interstitial first).
    """
    from lidiff_helpers.simulation.structures import lif_supercell

    if mechanism not in MECHANISMS:
        raise ParameterError(f"unknown mechanism {mechanism!r}; use one of {list(MECHANISMS)}")
    m = MECHANISMS[mechanism]
    initial = lif_supercell(int(n_cells), a_A=float(a_A), interstitial="tetrahedral")
    i = int(initial.info["interstitial_index"])
    final = initial.copy()
    pos = final.positions
    if m.out_signs is None:
        pos[i] = pos[i] + np.array([0.0, 0.0, -0.5 * a_A])
        moving: tuple = (i,)
    else:
        lat = _lattice_li_at_origin(initial, i)
        site = initial.positions[lat].copy()
        pos[i] = site
        pos[lat] = site + 0.25 * a_A * np.array(m.out_signs, float)
        moving = (i, lat)
    final.positions = pos
    return initial, final, moving


def relax(atoms, calc, fmax_eV_A: float = 0.03, max_steps: int = 400):
    """Relax positions at fixed cell (BFGS); returns ``(atoms, energy_eV, converged)``."""
    from ase.optimize import BFGS

    at = atoms.copy()
    at.calc = calc
    opt = BFGS(at, logfile=None)
    ok = bool(opt.run(fmax=fmax_eV_A, steps=max_steps))
    return at, float(at.get_potential_energy()), ok


def inversion_map(initial, final, tol_A: float = 0.05):
    """Is ``final`` ``initial`` inverted through a point, up to relabelling equal atoms?

    Every knock-off and the direct hop are: the end states of a symmetric path map onto
    each other by inversion through the path's midpoint (for the collinear knock-off the
    lattice site the two Li pass through; rock salt is centrosymmetric at every site). The
    centre is the mean midpoint of the atoms that move more than 0.5 A. Returns
    ``(centre_A, perm, mismatch_A)`` with ``final[j]`` within ``mismatch_A`` (<= ``tol_A``)
    of ``2 centre - initial[perm[j]]`` (minimum image, same element), or None.
    """
    from ase.geometry import find_mic

    if len(initial) != len(final) or np.any(initial.numbers != final.numbers):
        return None
    cell, pbc, n = initial.cell, initial.pbc, len(initial)
    d, _ = find_mic(final.positions - initial.positions, cell, pbc)
    moving = np.linalg.norm(d, axis=1) > 0.5
    if not moving.any():
        return None
    centre = np.mean(initial.positions[moving] + d[moving] / 2.0, axis=0)
    inverted = 2.0 * centre - initial.positions
    _, dist = find_mic((final.positions[:, None, :] - inverted[None, :, :]).reshape(-1, 3),
                       cell, pbc)
    dist = dist.reshape(n, n)
    dist[initial.numbers[None, :] != final.numbers[:, None]] = np.inf
    perm = dist.argmin(axis=1)
    mismatch = float(dist[np.arange(n), perm].max())
    if len(set(perm.tolist())) != n or mismatch > tol_A:
        return None
    return centre, perm, mismatch


def invert(atoms, like, centre, perm):
    """``atoms`` inverted through ``centre`` (A) and relabelled by ``perm`` (as returned by
    :func:`inversion_map`), each atom placed at the periodic image nearest its position in
    ``like`` (the state it stands for: a band's other end)."""
    from ase.geometry import find_mic

    target = 2.0 * np.asarray(centre) - atoms.positions[np.asarray(perm)]
    d, _ = find_mic(target - like.positions, like.cell, like.pbc)
    out = like.copy()
    out.calc = None
    out.positions = like.positions + d
    return out


def _path_length(images) -> np.ndarray:
    from ase.geometry import find_mic

    s = [0.0]
    for a, b in zip(images[:-1], images[1:]):
        d, _ = find_mic(b.positions - a.positions, a.cell, a.pbc)
        s.append(s[-1] + float(np.linalg.norm(d)))
    return np.asarray(s)


def run_neb(initial, final, calc, settings: NEBSettings = NEBSettings(),
            interpolation: str = "idpp", mechanism: str = "custom",
            moving: Sequence[int] = (), interior: Sequence | None = None) -> NEBResult:
    """Climbing-image NEB between relaxed ``initial`` and ``final`` (same atoms, same
    order) with one shared calculator: a plain band to ``pre_fmax_eV_A``, then the
    climbing image to ``fmax_eV_A`` (FIRE). ``interior``: a starting band's
    ``settings.n_images`` intermediate images (e.g. another model's converged path)
    instead of the ``interpolation``."""
    from ase.mep import NEB
    from ase.optimize import BFGS, FIRE

    if len(initial) != len(final) or np.any(initial.numbers != final.numbers):
        raise InputError("initial and final states must hold the same atoms in the same order")
    images = [initial.copy()] + [initial.copy() for _ in range(settings.n_images)] + \
        [final.copy()]
    for im in images:
        im.calc = calc
    neb = NEB(images, k=settings.spring_eV_A2, climb=False, method="improvedtangent",
              allow_shared_calculator=True)
    if interior is None:
        neb.interpolate(method=interpolation, mic=bool(np.any(initial.pbc)))
    elif len(interior) != settings.n_images:
        raise InputError(f"interior: {len(interior)} images for n_images="
                         f"{settings.n_images}")
    else:
        for im, start in zip(images[1:-1], interior):
            im.positions = np.asarray(start.positions, float)
    optimizer = BFGS if settings.optimizer == "bfgs" else FIRE
    steps = 0
    if not settings.climb_from_start:
        opt = optimizer(neb, logfile=None)
        opt.run(fmax=settings.pre_fmax_eV_A, steps=settings.max_steps)
        steps = opt.nsteps
    neb.climb = True
    opt = optimizer(neb, logfile=None)
    converged = bool(opt.run(fmax=settings.fmax_eV_A, steps=settings.max_steps))
    steps += opt.nsteps
    e = np.array([im.get_potential_energy() for im in images])
    ci = 1 + int(np.argmax(e[1:-1]))
    f_ci = float(np.linalg.norm(neb.get_forces().reshape(settings.n_images, -1, 3)
                                [ci - 1], axis=1).max())
    band = []
    for im in images:
        a = im.copy()
        a.calc = None
        band.append(a)
    return NEBResult(mechanism=mechanism, barrier_eV=float(e[ci] - e[0]),
                     reverse_barrier_eV=float(e[ci] - e[-1]),
                     endpoint_asymmetry_eV=float(e[-1] - e[0]),
                     energies_eV=tuple(float(x) for x in e - e[0]),
                     path_A=tuple(float(x) for x in _path_length(images)),
                     climbing_index=ci, climbing_fmax_eV_A=f_ci, converged=converged,
                     n_steps=int(steps), images=band, moving=tuple(int(i) for i in moving))


def barrier(mechanism: str, calc, n_cells: int = 2, a_A: float = LIF_A_STUDY_A,
            settings: NEBSettings = NEBSettings(), relaxed_initial=None) -> NEBResult:
    """Barrier of ``mechanism`` for the model behind ``calc``: end states relaxed at fixed
    cell (``relaxed_initial``: reuse a relaxed initial state, the same for every
    mechanism), then :func:`run_neb`."""
    init0, fin0, moving = endpoints(mechanism, n_cells, a_A)
    init = relaxed_initial if relaxed_initial is not None else \
        relax(init0, calc, settings.fmax_eV_A, settings.max_steps)[0]
    fin, _, _ = relax(fin0, calc, settings.fmax_eV_A, settings.max_steps)
    return run_neb(init, fin, calc, settings, mechanism=mechanism, moving=moving)


def local_indices(atoms, centres: Sequence[int], cutoff_A: float = 2.6) -> list[int]:
    """``centres`` and every atom within ``cutoff_A`` of one of them (mic): the atoms of a
    partial Hessian, or of a saddle-geometry picture."""
    keep = set(int(c) for c in centres)
    for c in centres:
        d = atoms.get_distances(int(c), range(len(atoms)), mic=True)
        keep |= {int(i) for i in np.nonzero(d < cutoff_A)[0]}
    return sorted(keep)


def sum_sq_displacement_A2(mechanism: str, a_A: float) -> float:
    """Summed squared Li displacement of one event (A^2): 3 a^2 / 8 for a knock-off,
    a^2 / 4 for the direct hop."""
    m = MECHANISMS[mechanism]
    return (2 * 3 * a_A ** 2 / 16) if m.n_moving == 2 else (a_A / 2) ** 2


def harmonic_modes(calc, minimum, saddle, centres: Sequence[int], cutoff_A: float,
                   delta_A: float, folder) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Mode energies (eV, ASE ``Vibrations.get_energies()``) at ``minimum`` and ``saddle``
    from partial finite-difference Hessians over the same atoms: ``centres`` and their
    neighbours within ``cutoff_A`` at the saddle (:func:`local_indices`). ``folder``:
    Vibrations' per-displacement cache (``<folder>/min``, ``<folder>/saddle``; an
    interrupted run resumes). Returns ``(energies_min, energies_saddle, indices)``, the
    input of :func:`lidiff_helpers.analysis.tst.vineyard`."""
    from pathlib import Path

    from ase.vibrations import Vibrations

    idx = local_indices(saddle, centres, cutoff_A)
    out = []
    for name, atoms in (("min", minimum), ("saddle", saddle)):
        at = atoms.copy()
        at.calc = calc
        vib = Vibrations(at, indices=idx, delta=delta_A, name=str(Path(folder) / name))
        vib.run()
        out.append(vib.get_energies())
    return out[0], out[1], idx
