"""Range checks for configuration values, run by each config dataclass on creation, so a bad value from a
file or the command line is one clear ``ValueError`` before any work, never a traceback deep inside."""

from __future__ import annotations

import math


def _fail(obj, name: str, rule: str, value) -> None:
    raise ValueError(f"{type(obj).__name__}.{name} must be {rule}, got {value!r}")


def _number(obj, name: str, integer: bool):
    v = getattr(obj, name)
    ok = isinstance(v, int) if integer else isinstance(v, (int, float))
    if isinstance(v, bool) or not ok or not math.isfinite(v):
        _fail(obj, name, "an integer" if integer else "a finite number", v)
    return v


def at_least(obj, lo: float, *names: str, integer: bool = False) -> None:
    for n in names:
        if not _number(obj, n, integer) >= lo:
            _fail(obj, n, f">= {lo}", getattr(obj, n))


def positive(obj, *names: str) -> None:
    for n in names:
        if not _number(obj, n, False) > 0:
            _fail(obj, n, "> 0", getattr(obj, n))


def within(obj, lo: float, hi: float, *names: str) -> None:
    for n in names:
        if not lo <= _number(obj, n, False) <= hi:
            _fail(obj, n, f"in [{lo}, {hi}]", getattr(obj, n))


def one_of(obj, name: str, choices: tuple) -> None:
    if getattr(obj, name) not in choices:
        _fail(obj, name, f"one of {choices}", getattr(obj, name))


def ordered(obj, low: str, high: str) -> None:
    if getattr(obj, low) > getattr(obj, high):
        raise ValueError(f"{type(obj).__name__}: {low} ({getattr(obj, low)}) must not exceed {high} "
                         f"({getattr(obj, high)})")
