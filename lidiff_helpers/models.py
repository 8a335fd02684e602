"""Stable public name: Model specs to ASE calculators (``get_calculator``, ``resolve_spec``)
and single-head copies of multihead models (``export_head``, ``model_heads``).

Re-exports :mod:`lidiff_helpers.simulation.models` and the public names of
:mod:`lidiff_helpers.simulation.model_export` (documentation there); no logic lives here.
"""

from lidiff_helpers.simulation.model_export import export_head, model_heads
from lidiff_helpers.simulation.models import *  # noqa: F403
from lidiff_helpers.simulation.models import __all__ as _models_all

__all__ = [*_models_all, "export_head", "model_heads"]
