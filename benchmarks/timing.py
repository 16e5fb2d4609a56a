"""Timing helpers: warm-up, interleaved repeats, medians, log-log fits.

Times are wall-clock (`time.perf_counter`) per call. Several candidates are
measured *interleaved* (one sample of each in turn, repeated), so that the
load of a shared machine drifts over all of them alike instead of
penalising whichever ran during a busy second. Each sample may run the
callable several times (``inner``) so that sub-millisecond calls are not
dominated by timer resolution; the sample is the mean over those calls and
the reported figure is the median over samples.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np


@dataclasses.dataclass
class Timing:
    """Seconds per call, one entry per sample."""

    samples: List[float]

    @property
    def median(self) -> float:
        return float(np.median(self.samples))

    @property
    def p25(self) -> float:
        return float(np.percentile(self.samples, 25))

    @property
    def p75(self) -> float:
        return float(np.percentile(self.samples, 75))

    @property
    def best(self) -> float:
        return float(np.min(self.samples))

    def as_dict(self) -> dict:
        return {
            "median_ms": self.median * 1e3,
            "p25_ms": self.p25 * 1e3,
            "p75_ms": self.p75 * 1e3,
            "min_ms": self.best * 1e3,
            "samples": len(self.samples),
        }


def _once(fn: Callable[[], object], inner: int) -> float:
    start = time.perf_counter()
    for _ in range(inner):
        fn()
    return (time.perf_counter() - start) / inner


def calibrate(fn: Callable[[], object], target_s: float = 0.01, max_inner: int = 100) -> int:
    """How many calls make one sample of about `target_s` (at least 1).
    Calls `fn` once more, which also serves as a warm-up."""
    per_call = _once(fn, 1)
    if per_call <= 0:
        return max_inner
    return int(max(1, min(max_inner, math.ceil(target_s / per_call))))


def measure(
    fn: Callable[[], object], repeats: int, warmup: int = 1, inner: Optional[int] = None
) -> Timing:
    """Median-friendly timing of one callable."""
    return interleaved({"fn": fn}, repeats, warmup, inner)["fn"]


def interleaved(
    fns: Dict[str, Callable[[], object]],
    repeats: int,
    warmup: int = 1,
    inner: Optional[Dict[str, int] | int] = None,
    max_inner: int = 100,
    target_s: float = 0.01,
) -> Dict[str, Timing]:
    """Times every callable `repeats` times, round-robin.

    `warmup` untimed calls each first (the first call of a `tf.function`
    traces it). `inner`: calls per sample, a number or one per name; by
    default calibrated so that a sample lasts about `target_s`.
    """
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    if inner is None:
        inner = {name: calibrate(fn, target_s, max_inner) for name, fn in fns.items()}
    elif isinstance(inner, int):
        inner = {name: inner for name in fns}
    samples: Dict[str, List[float]] = {name: [] for name in fns}
    for _ in range(max(1, repeats)):
        for name, fn in fns.items():
            samples[name].append(_once(fn, inner[name]))
    return {name: Timing(s) for name, s in samples.items()}


def loglog_slope(x: Sequence[float], y: Sequence[float]) -> float:
    """Least-squares slope of log(y) against log(x) (NaN with < 2 points)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    keep = (x > 0) & (y > 0)
    if keep.sum() < 2:
        return float("nan")
    return float(np.polyfit(np.log(x[keep]), np.log(y[keep]), 1)[0])


def linear_fit(x: Sequence[float], y: Sequence[float]) -> Dict[str, float]:
    """y = fixed + per_unit * x by least squares: the fixed cost of a call and
    its marginal cost per unit (e.g. seconds and seconds per token)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) < 2:
        return {"fixed": float("nan"), "per_unit": float("nan")}
    per_unit, fixed = np.polyfit(x, y, 1)
    return {"fixed": float(fixed), "per_unit": float(per_unit)}
