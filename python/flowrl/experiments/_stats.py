"""The statistics of a report over seeds: the mean, a seeded percentile-bootstrap confidence
interval of the mean, and the interquartile mean (IQM), each defined exactly for small samples.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

#: Bootstrap resamples of a report.
RESAMPLES = 10_000
#: The bootstrap generator's seed (a report is the same every time it is made).
BOOTSTRAP_SEED = 0


def _values(values: Sequence[float]) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64).reshape(-1)
    if array.size == 0:
        raise ValueError("no values")
    if not np.all(np.isfinite(array)):
        raise ValueError("the values must be finite")
    return array


def mean(values: Sequence[float]) -> float:
    """The arithmetic mean."""
    return float(np.mean(_values(values)))


def bootstrap_ci(values: Sequence[float], confidence: float = 0.95, resamples: int = RESAMPLES,
                 seed: int = BOOTSTRAP_SEED) -> tuple[float, float]:
    """The percentile-bootstrap confidence interval of the mean.

    ``resamples`` samples of ``n`` values are drawn with replacement from the ``n`` values (all
    indices at once: ``numpy.random.default_rng(seed).integers(0, n, size=(resamples, n))``);
    the interval is the ``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` quantiles of their
    means (``numpy.quantile``'s default linear interpolation). One value gives ``(x, x)``.

    Parameters
    ----------
    values : sequence of float
    confidence : float
        In (0, 1).
    resamples : int
    seed : int

    Returns
    -------
    low, high : float
    """
    array = _values(values)
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if array.size == 1:
        return float(array[0]), float(array[0])
    indices = np.random.default_rng(seed).integers(0, array.size, size=(resamples, array.size))
    means = array[indices].mean(axis=1)
    low, high = np.quantile(means, [(1.0 - confidence) / 2.0, (1.0 + confidence) / 2.0])
    return float(low), float(high)


def iqm(values: Sequence[float]) -> float:
    """The interquartile mean: the mean of the middle half of the sorted values.

    With ``n`` values, ``k = floor(n / 4)`` are dropped from each end and the remaining
    ``n - 2k`` averaged (the definition of ``scipy.stats.trim_mean(values, 0.25)``, which
    rliable's IQM uses). So for ``n < 4`` it is the plain mean; ``n = 4`` averages the middle 2,
    ``n = 5`` the middle 3, ``n = 8`` the middle 4, ``n = 10`` the middle 6.
    """
    array = np.sort(_values(values))
    cut = math.floor(array.size / 4)
    return float(np.mean(array[cut:array.size - cut]))
