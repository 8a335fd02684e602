"""Tick helpers shared by the figures: plain numbers on log axes."""

from __future__ import annotations

__all__ = ["plain_log_ticks"]


def plain_log_ticks(axis) -> None:
    """Plain numbers (20, 50, 100, 200), not powers of ten, on a log axis; when the view
    spans less than a factor 4 (one or no major tick), the minor ticks are labelled too
    (60, 70, 80, 90, 150)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, ScalarFormatter

    fmt = ScalarFormatter()
    fmt.set_scientific(False)
    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(fmt)
    axis.set_minor_locator(LogLocator(base=10, subs=(1.5, 3.0, 4.0, 6.0, 7.0, 8.0, 9.0)))

    def minor(x, _pos):
        lo, hi = sorted(axis.get_view_interval())
        return f"{x:g}" if lo > 0 and hi / lo < 4.0 else ""

    axis.set_minor_formatter(FuncFormatter(minor))
