"""Logistic regression by stochastic gradient descent over sparse rows, step for step what
scikit-learn's ``SGDClassifier(loss="log_loss", penalty="l2", learning_rate="constant",
shuffle=False).partial_fit`` computes on a sparse matrix, in plain Python.

Why not scikit-learn itself: importing it adds about 90 MB to the process, and the web process
must stay small; a reader's update touches a dozen features, which plain Python does in
microseconds. ``tests/test_learning_sgd.py`` checks the weights against scikit-learn's after the
same examples. The weight vector is kept as ``scale * v`` (scikit-learn's ``WeightVector``
trick), so the L2 decay of every weight at every step costs one multiplication. ``pair_step`` is
the one update scikit-learn's classifier does not make: a lesson compared with other mail.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

# scikit-learn's constants: the gradient clip, the rescaling threshold, and the damped intercept
# step it uses for sparse input (``SPARSE_INTERCEPT_DECAY``), which a FeatureHasher's rows are.
MAX_DLOSS = 1e12
RESET_WSCALE = 1e-9
SPARSE_INTERCEPT_DECAY = 0.01


def log_loss_gradient(y: float, raw: float) -> float:
    """d loss / d raw for y in {0, 1}: expit(raw) - y, as scikit-learn's half binomial loss."""
    if raw > -37:
        e = math.exp(-raw)
        return ((1 - y) - y * e) / (1 + e)
    return math.exp(raw) - y


class SparseSGD:
    """The weights ({column: weight}, absent = 0), the intercept and the step count ``t``."""

    def __init__(self, *, eta0: float, alpha: float, coef: Mapping[int, float] | None = None,
                 intercept: float = 0.0, t: float = 1.0) -> None:
        self.eta0, self.alpha = eta0, alpha
        self._v: dict[int, float] = dict(coef or {})
        self._scale = 1.0
        self.intercept, self.t = intercept, t

    def decision(self, row: Mapping[int, float]) -> float:
        """The log-odds of a row (with the intercept)."""
        v = self._v
        return sum(v.get(i, 0.0) * x for i, x in row.items()) * self._scale + self.intercept

    def step(self, row: Mapping[int, float], positive: bool, weight: float) -> None:
        """One SGD step on one weighted example."""
        eta = self.eta0
        dloss = max(-MAX_DLOSS, min(MAX_DLOSS, log_loss_gradient(1.0 if positive else 0.0, self.decision(row))))
        update = -eta * dloss * weight
        self._scale *= max(0.0, 1.0 - eta * self.alpha)
        if self._scale < RESET_WSCALE:
            self._fold()
        if update != 0.0:
            c = update / self._scale
            v = self._v
            for i, x in row.items():
                v[i] = v.get(i, 0.0) + x * c
            self.intercept += update * SPARSE_INTERCEPT_DECAY
        self.t += 1

    def pair_step(self, row: Mapping[int, float], other: Mapping[int, float], gap: float, positive: bool,
                  weight: float) -> None:
        """One pairwise step (RankNet's loss, logistic on a difference of scores): ``row`` should
        rank above ``other`` (``positive``) or below it. ``gap`` is how far the scores the model
        corrects already put ``row`` above ``other``, in log-odds. Only ``row``'s own features move,
        by how much they differ from ``other``'s: what the two share cancels, and ``other`` (mail
        the reader did not judge) learns nothing. No L2 decay and no step count: a pair is part
        of the example it comes with."""
        sign = 1.0 if positive else -1.0
        v = self._v
        margin = sign * (gap + (sum(v.get(i, 0.0) * x for i, x in row.items())
                                - sum(v.get(i, 0.0) * x for i, x in other.items())) * self._scale)
        # d loss / d margin of log(1 + exp(-margin)), clipped as the pointwise step is
        dloss = max(-MAX_DLOSS, min(MAX_DLOSS, log_loss_gradient(1.0, margin)))
        c = -self.eta0 * dloss * weight * sign / self._scale
        for i, x in row.items():
            delta = x - other.get(i, 0.0)
            if delta:
                v[i] = v.get(i, 0.0) + delta * c

    def fit(self, rows: Iterable[tuple[Mapping[int, float], bool, float]]) -> None:
        """Steps over (row, positive, weight) in order, then the weights folded (as partial_fit ends)."""
        for row, positive, weight in rows:
            self.step(row, positive, weight)
        self._fold()

    def _fold(self) -> None:
        s = self._scale
        self._v = {i: w * s for i, w in self._v.items() if w * s != 0.0}
        self._scale = 1.0

    def weight(self, column: int) -> float:
        return self._v.get(column, 0.0) * self._scale

    def coef(self) -> dict[int, float]:
        """The non-zero weights."""
        return {i: w * self._scale for i, w in self._v.items() if w * self._scale != 0.0}
