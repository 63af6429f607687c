"""Numbers as people read them, in one place.

Every sentence the product writes (a reason's message, the cycle report, the
model card) formats its numbers here, so one value reads the same wherever it
appears: an error of 51234.6 is "51,235" in the summary and in the record.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

#: Significant digits in the record's sentences and the model card: enough to
#: tell two close metric values apart. The cycle summary uses 3 (``number``'s default).
PRECISE = 4


def number(x: float | None, digits: int = 3) -> str:
    """A measured value: ``digits`` significant digits, whole and grouped when larger.

    Args:
        x: The value; None, NaN and infinities read "n/a".
        digits: Significant digits below ``10**digits``; from there the value is
            rounded to a whole number with thousands grouped ("51,235", never
            "5.123e+04").

    Returns:
        E.g. "0.123", "7.3", "142", "51,235", "n/a".
    """
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    return f"{x:.{digits}g}" if abs(x) < 10**digits else f"{x:,.0f}"


def percent(x: float) -> str:
    """A share or a limit: whole percents, one decimal below 10% so small values stay visible.

    Args:
        x: The share (0.25 is 25%).

    Returns:
        E.g. "25%", "4.3%", "0.5%", "8%".
    """
    if abs(x) >= 0.095:
        return f"{x * 100:.0f}%"
    return f"{x * 100:.1f}".rstrip("0").rstrip(".") + "%"


def change(x: float | None) -> str:
    """A relative change with its sign and one decimal ("+4.3%", "-12.0%"); None reads "n/a"."""
    if x is None:
        return "n/a"
    return f"{x:+.1%}"


def count(n: int, noun: str, plural: str | None = None) -> str:
    """``n`` things, grouped and in the right number: "1 period", "1,250 rows"."""
    return f"{n:,} {noun if n == 1 else (plural or noun + 's')}"


def listed(items: Sequence[str], limit: int) -> str:
    """Up to ``limit`` items joined by commas, then how many more: "a, b and 3 more"."""
    shown = ", ".join(items[:limit])
    more = len(items) - limit
    return shown + (f" and {more} more" if more > 0 else "")
