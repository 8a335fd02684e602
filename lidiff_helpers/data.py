"""Stable public name: The study's data: hash-checked fetch, validated frame loaders, held-out test set.

Re-exports :mod:`lidiff_helpers.io.data` (documentation there); no logic lives here.
"""

from lidiff_helpers.io.data import *  # noqa: F403
from lidiff_helpers.io.data import (
    __all__,  # noqa: F401
    main,
)

if __name__ == "__main__":
    raise SystemExit(main())
