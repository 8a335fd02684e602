"""Stable public name: The resumable, guarded NVT MD runner (``run_md``, ``MDRun``).

Re-exports :mod:`lidiff_helpers.simulation.md` (documentation there); no logic lives here.
"""

from lidiff_helpers.simulation.md import *  # noqa: F403
from lidiff_helpers.simulation.md import __all__  # noqa: F401
