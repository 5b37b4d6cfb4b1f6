"""The offline-to-online metrics of one run's evaluation curve: how a pretrained policy's return
(the evaluation at step 0) holds up and grows during online fine-tuning.

The one definition of these metrics: :func:`flowrl.experiments.report` computes them per trial,
and ``scripts/benchmark_offline_to_online.py`` imports them for its runs.
"""

from __future__ import annotations

import math
from typing import Mapping

import numpy as np

#: The metrics :func:`offline_to_online_metrics` returns, in the order a report lists them.
OFFLINE_TO_ONLINE_METRICS = ("start", "worst", "dip", "final", "final_ratio", "auc")

#: The smallest ``|start|`` a dip is divided by (a start of exactly 0 gives a finite dip).
_SMALLEST_START = 1e-8


def offline_to_online_metrics(curve: Mapping[int, float]) -> dict[str, float]:
    """The offline-to-online metrics of one run.

    Parameters
    ----------
    curve : mapping of int to float
        The mean evaluation return at each environment step of online learning. Step 0 is the
        policy before fine-tuning (the pretrained one); a curve without step 0 (a run that was not
        evaluated before learning) has no ``start``, ``dip`` or ``final_ratio`` (NaN).

    Returns
    -------
    dict of str to float
        With ``after`` the returns at the steps after 0:

        - ``start``: the return at step 0;
        - ``worst``: ``min(after)``, the worst return after the start (``start`` when there is no
          evaluation after it);
        - ``dip``: ``(worst - start) / max(|start|, 1e-8)``, the worst return's change relative to
          the start (``-0.36``: 36% below it; with a positive start, ``worst / start - 1``);
        - ``final``: the return at the last step;
        - ``final_ratio``: ``final / start`` when ``start > 0``, NaN otherwise (a ratio of
          negative returns says nothing);
        - ``auc``: the area under the curve as the mean of ``after`` (the evaluations after step
          0, so that a run's AUC measures fine-tuning only; ``start`` when there are none).

    Raises
    ------
    ValueError
        For an empty curve, a negative step or a return that is not finite.
    """
    points = sorted((int(step), float(value)) for step, value in curve.items())
    if not points:
        raise ValueError("the curve has no evaluations")
    if points[0][0] < 0:
        raise ValueError(f"steps must be >= 0, got {points[0][0]}")
    if not all(math.isfinite(value) for _, value in points):
        raise ValueError("the returns must be finite")
    start = points[0][1] if points[0][0] == 0 else math.nan
    after = [value for step, value in points if step > 0]
    worst = min(after) if after else start
    return {"start": start, "worst": worst, "dip": (worst - start) / max(abs(start), _SMALLEST_START),
            "final": points[-1][1], "final_ratio": points[-1][1] / start if start > 0 else math.nan,
            "auc": float(np.mean(after)) if after else start}
