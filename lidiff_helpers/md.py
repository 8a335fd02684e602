"""Stable public name: The resumable, guarded NVT MD runner (``run_md``, ``MDRun``), its
grids (``build_grid``, ``run_grid``, ``write_manifest``), tables and figure.

Re-exports :mod:`lidiff_helpers.simulation.md`, :mod:`lidiff_helpers.simulation.md_grid`,
the tables of :mod:`lidiff_helpers.workflows.md_diffusion` and
:mod:`lidiff_helpers.figures.md` (documentation there); no logic lives here.
"""

from lidiff_helpers.figures.md import plot_runs
from lidiff_helpers.simulation.md import *  # noqa: F403
from lidiff_helpers.simulation.md import __all__ as _runner_all
from lidiff_helpers.simulation.md_grid import *  # noqa: F403
from lidiff_helpers.simulation.md_grid import __all__ as _grid_all
from lidiff_helpers.workflows.md_diffusion import grid_table, runs_table, stability_table

__all__ = [*_runner_all, *_grid_all, "grid_table", "runs_table", "stability_table",
           "plot_runs"]
