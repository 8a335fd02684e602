"""Stable public name: fine-tuning with ``mace_run_train`` (``python -m lidiff_helpers.finetune
{run,benchmark}``).

Re-exports :mod:`lidiff_helpers.training.finetune` (one run), ``training.finetune_data``
(replay frames, E0s), ``training.sweeps`` (the Table 1 grid), ``training.finetune_benchmark``
(the measured comparison and the command line) and Table 1 from
``workflows.finetune_sweeps``; documentation there. No logic lives here.
"""

from lidiff_helpers.training import finetune as _one
from lidiff_helpers.training import finetune_benchmark as _bench
from lidiff_helpers.training import finetune_data as _data
from lidiff_helpers.training import sweeps as _sweeps
from lidiff_helpers.training.finetune import *  # noqa: F403
from lidiff_helpers.training.finetune_benchmark import *  # noqa: F403
from lidiff_helpers.training.finetune_benchmark import main
from lidiff_helpers.training.finetune_data import *  # noqa: F403
from lidiff_helpers.training.sweeps import *  # noqa: F403

__all__ = sorted({*_one.__all__, *_data.__all__, *_sweeps.__all__, *_bench.__all__,
                  "table1", "summary_values"})

if __name__ == "__main__":
    raise SystemExit(main())
