"""One reader's online model: scikit-learn's logistic regression by SGD (``partial_fit``) over
hashed named features, plus the counts that let it explain itself.

Hashing (``FeatureHasher``) keeps the weight vector a fixed size however many senders and lists
the reader meets; an SGD step touches only the features of the email at hand, so the weights
stay sparse and are stored as {index: weight}. Names are never lost: an email's features are
hashed on the spot to read back each one's weight. The counts (``stats``) record, per sender,
domain, list, thread, kind and "has a due date", which signals the reader gave: the reason text
quotes them.

Plain data in and out (:meth:`UserModel.state` / :meth:`UserModel.from_state`): no pickle in
the database, and a state written by one scikit-learn version loads in another.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.feature_extraction import FeatureHasher
from sklearn.linear_model import SGDClassifier

from beacon.triage.learning.features import keyed
from beacon.triage.learning.signals import Example

# 65,536 buckets: a reader who gave feedback on a thousand mails has a few thousand named
# features, of which about 1 in 20 shares its bucket with another (mostly one-off thread and
# sender features with small weights); the update cost grows with the vector's size.
N_FEATURES = 2**16
STATE_FORMAT = 1
# Constant step: a handful of marks must already move the ranking (Gmail's per-user model is
# likewise updated online from few examples); the L2 penalty keeps one-off features small.
ETA0 = 0.5
ALPHA = 1e-3
_CLASSES = np.array([0, 1])


def _classifier() -> SGDClassifier:
    # In order, not shuffled: several actions learned in one call teach what they would one by one.
    return SGDClassifier(loss="log_loss", penalty="l2", alpha=ALPHA, learning_rate="constant", eta0=ETA0,
                         shuffle=False)


class UserModel:
    """The learned part of one reader's ranking."""

    def __init__(self) -> None:
        self._hasher = FeatureHasher(n_features=N_FEATURES, input_type="dict", alternate_sign=False)
        self._clf = _classifier()
        self.events = 0
        # feature -> signal -> count of examples (the evidence behind the reasons)
        self.stats: dict[str, dict[str, int]] = {}

    # -- learning --------------------------------------------------------------------------
    def learn(self, feats: Mapping[str, float], example: Example) -> None:
        self.learn_many([(feats, example)])

    def learn_many(self, pairs: Sequence[tuple[Mapping[str, float], Example]]) -> None:
        """Learn these examples in order, in one SGD pass (a bulk action costs one call)."""
        if not pairs:
            return
        x = self._hasher.transform([dict(f) for f, _ in pairs])
        y = np.array([1 if ex.positive else 0 for _, ex in pairs])
        self._clf.partial_fit(x, y, classes=_CLASSES, sample_weight=np.array([ex.weight for _, ex in pairs]))
        for feats, example in pairs:
            step = -1 if example.unlearn else 1
            self.events = max(0, self.events + step)
            for name in keyed(feats):
                counts = self.stats.setdefault(name, {})
                counts[example.signal.value] = max(0, counts.get(example.signal.value, 0) + step)
                if not any(counts.values()):
                    del self.stats[name]

    @property
    def trained(self) -> bool:
        return getattr(self._clf, "coef_", None) is not None

    # -- reading -----------------------------------------------------------------------------
    def contributions(self, feats: Mapping[str, float]) -> dict[str, float]:
        """Each feature's share of the log-odds for an email (the intercept, the same for every
        email, is left out: it says how often the reader approves, not which mail)."""
        if not self.trained or not feats:
            return {}
        names = list(feats)
        rows = self._hasher.transform([{n: 1.0} for n in names])
        coef = self._clf.coef_[0]
        out = {}
        for i, name in enumerate(names):
            idx = rows.indices[rows.indptr[i] : rows.indptr[i + 1]]
            w = float(coef[idx].sum()) if len(idx) else 0.0
            if w:
                out[name] = w * feats[name]
        return out

    def weights(self) -> dict[str, float]:
        """The learned weight of every feature the stats know by name."""
        return self.contributions({name: 1.0 for name in self.stats})

    # -- persistence -------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        coef: dict[str, float] = {}
        intercept, t = 0.0, 1.0
        if self.trained:
            row = self._clf.coef_[0]
            nz = np.flatnonzero(row)
            coef = {str(int(i)): float(row[i]) for i in nz}
            intercept, t = float(self._clf.intercept_[0]), float(self._clf.t_)
        return {"format": STATE_FORMAT, "n_features": N_FEATURES, "coef": coef, "intercept": intercept,
                "t": t, "events": self.events, "stats": self.stats}

    @classmethod
    def from_state(cls, state: Mapping[str, Any] | None) -> UserModel:
        """The model a :meth:`state` describes (a fresh one for None or an unknown format)."""
        m = cls()
        if not state or state.get("format") != STATE_FORMAT or state.get("n_features") != N_FEATURES:
            return m
        m.events = int(state.get("events", 0))
        m.stats = {k: dict(v) for k, v in (state.get("stats") or {}).items()}
        coef = state.get("coef") or {}
        if coef or state.get("intercept"):
            row = np.zeros((1, N_FEATURES))
            for i, w in coef.items():
                row[0, int(i)] = w
            # The fitted attributes partial_fit continues from (all public, documented).
            m._clf.coef_ = row
            m._clf.intercept_ = np.array([float(state.get("intercept", 0.0))])
            m._clf.t_ = float(state.get("t", 1.0))
            m._clf.classes_ = _CLASSES
            m._clf.n_features_in_ = N_FEATURES
        return m
