"""Stable public name: MSD and diffusion coefficients (``msd``, ``diffusion_coefficient``).

Re-exports :mod:`lidiff_helpers.analysis.diffusion` (documentation there); no logic lives here.
"""

from lidiff_helpers.analysis.diffusion import *  # noqa: F403
from lidiff_helpers.analysis.diffusion import __all__  # noqa: F401
