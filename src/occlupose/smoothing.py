"""Keypoint stabilisation: the One Euro filter (Casiez, Roussel and Vogel, CHI 2012), as MediaPipe's pose graph
uses it on its landmarks.

A first-order low-pass filter whose cutoff rises with the signal's speed: a still joint is smoothed hard (no
jitter), a fast one barely (little lag). Speeds are measured in the person's own size per second (``scale``), so
one setting serves a person 100 px tall and one 1,000 px tall. The filter is causal (the live mode can use it);
offline, :func:`smooth` can also run it forwards and backwards and average, which cancels its lag.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .validate import at_least, positive

MODES = ("none", "one_euro", "one_euro_fb")


@dataclass(frozen=True)
class OneEuroConfig:
    """MediaPipe's pose-landmark setting: in person sizes per second, cutoffs in Hz."""

    #: cutoff of a still signal: lower = steadier, more lag
    min_cutoff: float = 0.05
    #: how fast the cutoff rises with speed: higher = less lag on fast motion, more jitter
    beta: float = 80.0
    #: cutoff of the speed estimate itself
    d_cutoff: float = 1.0

    def __post_init__(self) -> None:
        positive(self, "min_cutoff", "d_cutoff")
        at_least(self, 0.0, "beta")


def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray:
    tau = 1.0 / (2 * np.pi * np.asarray(cutoff, np.float64))
    return 1.0 / (1.0 + tau / dt)


class OneEuro:
    """Stateful, for values arriving one frame at a time (any shape, every element filtered on its own)."""

    def __init__(self, cfg: OneEuroConfig = OneEuroConfig()):
        self.cfg = cfg
        self.time: float | None = None  # None until the first value

    def __call__(self, value: np.ndarray, time: float, scale: float = 1.0) -> np.ndarray:
        """Filtered ``value`` at ``time`` seconds; ``scale`` is the person's size in the value's units."""
        value = np.asarray(value, np.float64)
        if self.time is None:
            self.value, self.raw, self.speed = value.copy(), value.copy(), np.zeros_like(value)
            self.time = float(time)
            return self.value.copy()
        if time <= self.time:  # a repeated timestamp changes nothing
            return self.value.copy()
        dt = float(time) - self.time
        speed = (value - self.raw) / (dt * max(float(scale), 1e-9))
        self.speed = self.speed + _alpha(self.cfg.d_cutoff, dt) * (speed - self.speed)
        a = _alpha(self.cfg.min_cutoff + self.cfg.beta * np.abs(self.speed), dt)
        self.value = self.value + a * (value - self.value)
        self.raw, self.time = value, float(time)
        return self.value.copy()


def _forward(x: np.ndarray, times: np.ndarray, scale: np.ndarray, cfg: OneEuroConfig) -> np.ndarray:
    f = OneEuro(cfg)
    return np.stack([f(x[t], times[t], scale[t]) for t in range(len(x))])


def smooth(x: np.ndarray, times: np.ndarray, scale: np.ndarray | float = 1.0, mode: str = "one_euro",
           cfg: OneEuroConfig = OneEuroConfig()) -> np.ndarray:
    """(T, ...) values at ``times`` (T,) seconds -> (T, ...) filtered; ``scale`` (T,) or one number, the
    person's size in the values' units. ``one_euro_fb``: the mean of a forward and a backward pass (no lag)."""
    if mode not in MODES:
        raise ValueError(f"unknown smoothing {mode!r}; expected one of {MODES}")
    x = np.asarray(x, np.float64)
    times = np.asarray(times, np.float64)
    if len(times) != len(x):
        raise ValueError(f"smooth: {len(x)} values but {len(times)} times")
    if mode == "none" or len(x) < 2:
        return x.copy()
    scale = np.broadcast_to(np.asarray(scale, np.float64), (len(x),))
    out = _forward(x, times, scale, cfg)
    if mode == "one_euro_fb":
        back = _forward(x[::-1], -times[::-1], scale[::-1], cfg)[::-1]
        out = (out + back) / 2
    return out
