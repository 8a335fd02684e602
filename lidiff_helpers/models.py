"""Stable public name: Model specs to ASE calculators (``get_calculator``, ``resolve_spec``).

Re-exports :mod:`lidiff_helpers.simulation.models` (documentation there); no logic lives here.
"""

from lidiff_helpers.simulation.models import *  # noqa: F403
from lidiff_helpers.simulation.models import __all__  # noqa: F401
