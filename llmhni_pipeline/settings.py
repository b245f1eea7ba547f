"""Numbers read from the environment, checked once, with an error that names the variable and what it takes."""

from __future__ import annotations

import os


def env_number(
    name: str,
    default: float | int,
    kind: type = float,
    minimum: float | None = None,
    maximum: float | None = None,
    exclusive_minimum: bool = False,
    what: str = "a number",
) -> float | int:
    """``$name`` as ``kind`` (``default`` when unset or empty), within ``[minimum, maximum]`` (``(minimum, …``
    with ``exclusive_minimum``); ``ValueError`` naming the variable otherwise."""
    text = os.environ.get(name) or ""
    if not text.strip():
        return default
    try:
        value = kind(text.strip())
    except ValueError:
        raise ValueError(f"{name} must be {what}, not {text!r}") from None
    low_ok = minimum is None or (value > minimum if exclusive_minimum else value >= minimum)
    if not low_ok or (maximum is not None and value > maximum):
        low = "" if minimum is None else f"{'above' if exclusive_minimum else 'at least'} {minimum:g}"
        high = "" if maximum is None else f"at most {maximum:g}"
        raise ValueError(f"{name} must be {what} {' and '.join(x for x in (low, high) if x)}, not {text!r}")
    return value
