"""Champion against challenger: is a newly trained checkpoint better than the running one on
the most recent held-out seconds, by more than the noise of the score?

The score is the directional accuracy (the more likely of up and down, on the labels that
moved past the dead zone). Labels of seconds closer than the horizon overlap (they share
most of their return), so they are not independent: the test keeps **one moved label per
symbol per horizon window** (the first of each window), and says how many it rests on.

The test is paired, on the same labels: of the labels exactly one of the two got right,
the challenger must have the larger share, and an exact one-sided binomial test (McNemar's,
exact) must reject "each is as likely to be the one right" at `alpha`. With no champion
(nothing promoted or trained yet), the challenger is tested against a coin: its number right
of n against Binomial(n, 1/2). Fewer than `min_labels` independent labels: refused, the
evidence is too thin whatever the scores.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

DOWN, UP = 0, 2  # as cobflow.models.dataset (not imported: no torch, no pyarrow here)


@dataclass(frozen=True)
class Verdict:
    promote: bool
    challenger_score: float  # accuracy on the independent labels
    champion_score: float  # the champion's (0.5: a coin, when there is none)
    labels: int  # independent labels the scores rest on
    p_value: float
    reason: str


def independent(seconds: np.ndarray, symbols: Sequence[str], direction: np.ndarray, horizon_s: int) -> np.ndarray:
    """Indexes of one moved label (up or down) per symbol per horizon window
    [k h, (k + 1) h), the first in time of each: labels that share no second of return."""
    moved = np.flatnonzero((direction == UP) | (direction == DOWN))
    order = moved[np.lexsort((seconds[moved], np.asarray(symbols, dtype=object)[moved].astype(str)))]
    seen: set[tuple[str, int]] = set()
    keep = []
    for i in order:
        key = (symbols[i], int(seconds[i]) // horizon_s)
        if key not in seen:
            seen.add(key)
            keep.append(i)
    return np.array(sorted(keep), dtype=np.int64)


def binomial_tail(k: int, n: int) -> float:
    """P(X >= k) for X ~ Binomial(n, 1/2), exact (sums of log terms)."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    logs = [math.lgamma(n + 1) - math.lgamma(j + 1) - math.lgamma(n - j + 1) - n * math.log(2) for j in range(k, n + 1)]
    top = max(logs)
    return min(1.0, math.exp(top) * sum(math.exp(x - top) for x in logs))


def says_up(probs: np.ndarray) -> np.ndarray:
    """The call of each row of (down, flat, up) probabilities: is up likelier than down?"""
    return probs[:, UP] > probs[:, DOWN]


def challenge(challenger: np.ndarray, champion: np.ndarray | None, direction: np.ndarray,
              alpha: float = 0.05, min_labels: int = 30) -> Verdict:
    """`challenger`, `champion`: (n, 3) probabilities on the same independent labels
    (`direction`: DOWN or UP each); champion None: there is none, a coin stands for it."""
    truth = direction == UP
    right = says_up(challenger) == truth
    n = len(truth)
    score = float(right.mean()) if n else math.nan
    if champion is None:
        other, p = 0.5, binomial_tail(int(right.sum()), n)
        against = "a coin (no champion)"
    else:
        theirs = says_up(champion) == truth
        other = float(theirs.mean()) if n else math.nan
        b, c = int((right & ~theirs).sum()), int((theirs & ~right).sum())
        p = binomial_tail(b, b + c) if b + c else 1.0
        against = f"the champion (discordant {b} to {c})"
    if n < min_labels:
        return Verdict(False, score, other, n, p, f"{n} independent labels, fewer than {min_labels}: too few to judge")
    if p < alpha:
        return Verdict(True, score, other, n, p, f"beats {against}: p = {p:.3g} < {alpha}")
    return Verdict(False, score, other, n, p, f"does not beat {against}: p = {p:.3g} >= {alpha}")
