"""The registry of sentences: each reason code to the template that renders it.

A template module registers its templates with :func:`says`; :func:`sentence`
renders a code's sentence and :func:`reason` builds a reason with it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from mlops_core.decisions import Reason
from mlops_core.formatting import PRECISE, count, number
from mlops_core.reasons import ReasonCode as C

Numbers = Mapping[str, float | int | str | None]
#: A sentence template: the code (a template may serve several), its numbers, its words.
Template = Callable[..., str]

_SENTENCES: dict[C, Template] = {}


def says(*codes: C) -> Callable[[Template], Template]:
    """Register the decorated template as the sentence of ``codes`` (one sentence per code)."""

    def register(template: Template) -> Template:
        for code in codes:
            if code in _SENTENCES:  # pragma: no cover - a programming error
                raise ValueError(f"two sentences for {code}")
            _SENTENCES[code] = template
        return template

    return register


def has_sentence(code: C) -> bool:
    """Whether the renderer has a sentence for ``code``."""
    return code in _SENTENCES


def sentence(code: C, numbers: Numbers | None = None, **words: Any) -> str:
    """The plain-language sentence of a reason.

    Args:
        code: The reason code.
        numbers: The reason's numbers.
        **words: What the sentence names besides numbers (see each template).

    Returns:
        The sentence, with the numbers in it.

    Raises:
        KeyError: When ``code`` has no sentence (a test keeps that from happening).
    """
    return _SENTENCES[C(code)](C(code), numbers or {}, **words)


def reason(
    code: C,
    numbers: Mapping[str, float | int | str | None] | None = None,
    passed: bool | None = None,
    **words: Any,
) -> Reason:
    """A reason with its sentence rendered from its code, numbers and words."""
    n = dict(numbers or {})
    return Reason(code=code, message=sentence(code, n, **words), numbers=n, passed=passed)


def _n(x: Any) -> str:
    """A number in a record sentence (4 significant digits)."""
    return number(x, PRECISE)


def periods_text(n: Any) -> str:
    """A count of periods in a record sentence ("1 period", "3 periods")."""
    return count(int(n), "period")
