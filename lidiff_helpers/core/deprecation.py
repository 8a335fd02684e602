"""Renamed keyword arguments: the old name keeps working for a while and warns.

Issue 13 renamed every frame-interval parameter ``timestep_ps`` to ``frame_interval_ps``
(``timestep_fs`` is the MD integrator step; the time between *saved frames* is a different
quantity). :func:`renamed_keyword` keeps ``timestep_ps=`` working with a
:class:`DeprecationWarning`.
"""

from __future__ import annotations

import functools
import warnings

from lidiff_helpers.core.errors import ParameterError

__all__ = ["deprecated_attribute", "renamed_keyword"]


def renamed_keyword(old: str, new: str):
    """Decorator: accept keyword ``old`` as a deprecated alias of ``new``.

    Passing ``old`` warns (:class:`DeprecationWarning`, pointing at the caller); passing
    both raises :class:`~lidiff_helpers.core.errors.ParameterError`.
    """

    def deco(func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            if old in kwargs:
                if new in kwargs:
                    raise ParameterError(f"{func.__qualname__}: pass {new} only ({old} is its "
                                         "deprecated old name)")
                warnings.warn(f"{func.__qualname__}: keyword '{old}' is deprecated, use "
                              f"'{new}' (the time between saved frames)", DeprecationWarning,
                              stacklevel=2)
                kwargs[new] = kwargs.pop(old)
            return func(*args, **kwargs)

        return wrapper

    return deco


def deprecated_attribute(old: str, new: str) -> property:
    """A read-only property ``old`` returning attribute ``new``, with a DeprecationWarning."""

    def get(self):
        warnings.warn(f"{type(self).__name__}.{old} is deprecated, use .{new}",
                      DeprecationWarning, stacklevel=2)
        return getattr(self, new)

    return property(get, doc=f"Deprecated alias of :attr:`{new}`.")
