"""Stable public name: ``setup_notebook``: the first call of every notebook.

Re-exports :mod:`lidiff_helpers.runner.notebook` (documentation there); no logic lives here.
"""

from lidiff_helpers.runner.notebook import *  # noqa: F403
from lidiff_helpers.runner.notebook import __all__  # noqa: F401
