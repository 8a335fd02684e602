"""Stable public name: Fine-tuning with ``mace_run_train`` (``python -m lidiff_helpers.finetune``).

Re-exports :mod:`lidiff_helpers.training.finetune` (documentation there); no logic lives here.
"""

from lidiff_helpers.training.finetune import *  # noqa: F403
from lidiff_helpers.training.finetune import __all__  # noqa: F401
from lidiff_helpers.training.finetune import _main

if __name__ == "__main__":
    raise SystemExit(_main())
