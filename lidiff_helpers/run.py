"""Stable public name: The papermill runner (``python -m lidiff_helpers.run``).

Re-exports :mod:`lidiff_helpers.runner.run` (documentation there); no logic lives here.
"""

from lidiff_helpers.runner.run import *  # noqa: F403
from lidiff_helpers.runner.run import (
    __all__,  # noqa: F401
    main,
)

if __name__ == "__main__":
    raise SystemExit(main())
