"""Stable public name: Arrhenius fits of D(T) (``fit_arrhenius``).

Re-exports :mod:`lidiff_helpers.analysis.arrhenius` (documentation there); no logic lives here.
"""

from lidiff_helpers.analysis.arrhenius import *  # noqa: F403
from lidiff_helpers.analysis.arrhenius import __all__  # noqa: F401
