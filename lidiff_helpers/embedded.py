"""Stable public name: The embedded foundation model's recipe (``python -m lidiff_helpers.embedded``).

Re-exports :mod:`lidiff_helpers.training.embedded` (documentation there); no logic lives here.
"""

from lidiff_helpers.training.embedded import *  # noqa: F403
from lidiff_helpers.training.embedded import (
    __all__,  # noqa: F401
    main,
)

if __name__ == "__main__":
    raise SystemExit(main())
