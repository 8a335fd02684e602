"""Stable public name: Local and Slurm (submitit) job executors.

Re-exports :mod:`lidiff_helpers.core.executor` (documentation there); no logic lives here.
"""

from lidiff_helpers.core.executor import *  # noqa: F403
from lidiff_helpers.core.executor import __all__  # noqa: F401
