"""One reader's online model: logistic regression by SGD over hashed named features (the same
hashing and the same update as scikit-learn's ``FeatureHasher`` and ``SGDClassifier.partial_fit``,
without importing scikit-learn, so the web process stays small), plus the counts that let it
explain itself.

Hashing keeps the weight vector a fixed size however many senders and lists the reader meets;
an SGD step touches only the features of the email at hand, so the weights stay sparse and are
stored as {index: weight}. Names are never lost: an email's features are hashed on the spot to
read back each one's weight. The counts (``stats``) record, per sender, domain, list, thread,
kind and "has a due date", which signals the reader gave: the reason text quotes them.

Each lesson is also compared with open mail the reader has beside it (:mod:`.versus`): the
label teaches what she thinks of the mail, the comparison where it should rank, so what the mail
shares with all her mail (its kind, its factors) does not take the whole lesson.

Plain data in and out (:meth:`UserModel.state` / :meth:`UserModel.from_state`): no pickle in
the database.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from beacon.triage.learning.features import keyed
from beacon.triage.learning.hashing import bucket
from beacon.triage.learning.sgd import SparseSGD
from beacon.triage.learning.signals import Example

# 65,536 buckets: a reader who gave feedback on a thousand mails has a few thousand named
# features, of which about 1 in 20 shares its bucket with another (mostly one-off thread and
# sender features with small weights).
N_FEATURES = 2**16
STATE_FORMAT = 1
# Constant step: a handful of marks must already move the ranking (Gmail's per-user model is
# likewise updated online from few examples); the L2 penalty keeps one-off features small.
ETA0 = 0.5
ALPHA = 1e-3
# Emails whose "ignored" lesson is kept to be taken back should the reader act on them after
# all: the newest this many (an older one acted on at last keeps its small lesson).
IGNORED_KEPT = 5000
# What an example's comparisons with open mail weigh, together, against its label. Above 1: the
# comparisons are what moves the ranking, and mail a reader wants can sit 25-30 points below the
# rest (a list post not addressed to her): at 1.0 whether six marks lifted such a list above her
# other mail hung on a single extra lesson (bench/learning.py, ana on worklife).
PAIRS_WEIGHT = 1.5


# Open mail an example is compared with: its features, and how far Beacon's own (unlearned) score
# of the example's mail is above it, in log-odds (the points over ``learning_points_per_logit``).
Versus = tuple[Mapping[str, float], float]


def hashed(feats: Mapping[str, float]) -> dict[int, float]:
    """A feature dict as its sparse row (colliding names summed, as FeatureHasher does)."""
    row: dict[int, float] = {}
    for name, value in feats.items():
        i = bucket(name, N_FEATURES)
        row[i] = row.get(i, 0.0) + value
    return row


class UserModel:
    """The learned part of one reader's ranking."""

    def __init__(self) -> None:
        self._sgd = SparseSGD(eta0=ETA0, alpha=ALPHA)
        self._trained = False
        self.events = 0
        # feature -> signal -> count of examples (the evidence behind the reasons)
        self.stats: dict[str, dict[str, int]] = {}
        # Mail that arrived up to here has been judged for the "ignored" signal (learning.ignored).
        self.ignored_through: datetime | None = None
        # The emails that taught "ignored" (ids): acting on one later takes that lesson back.
        self.ignored: set[int] = set()

    def mark_ignored(self, email_ids: Sequence[int]) -> None:
        self.ignored.update(email_ids)
        if len(self.ignored) > IGNORED_KEPT:
            self.ignored = set(sorted(self.ignored)[-IGNORED_KEPT:])

    # -- learning --------------------------------------------------------------------------
    def learn(self, feats: Mapping[str, float], example: Example) -> None:
        self.learn_many([(feats, example)])

    def learn_many(self, pairs: Sequence[tuple[Mapping[str, float], Example]
                                         | tuple[Mapping[str, float], Example, Sequence[Versus]]]) -> None:
        """Learn these examples in order (a bulk action teaches what its actions one by one would).

        An example may come with the open mail it is compared with (:data:`Versus`): then, after
        its own step, the example's mail is moved above (or below) each of them, the example's
        weight shared among them."""
        if not pairs:
            return
        sgd = self._sgd
        for feats, example, *more in pairs:
            row = hashed(feats)
            versus = more[0] if more else ()
            sgd.step(row, example.positive, example.weight)
            for other, gap in versus:
                sgd.pair_step(row, hashed(other), gap, example.positive, example.weight * PAIRS_WEIGHT / len(versus))
        sgd.fit(())  # the weights folded, as partial_fit ends
        self._trained = True
        for feats, example, *_ in pairs:
            step = -1 if example.unlearn else 1
            self.events = max(0, self.events + step)
            for name in keyed(feats):
                counts = self.stats.setdefault(name, {})
                counts[example.signal.value] = max(0, counts.get(example.signal.value, 0) + step)
                if not any(counts.values()):
                    del self.stats[name]

    @property
    def trained(self) -> bool:
        return self._trained

    # -- reading -----------------------------------------------------------------------------
    def contributions(self, feats: Mapping[str, float]) -> dict[str, float]:
        """Each feature's share of the log-odds for an email (the intercept, the same for every
        email, is left out: it says how often the reader approves, not which mail)."""
        if not self._trained:
            return {}
        out = {}
        for name, value in feats.items():
            w = self._sgd.weight(bucket(name, N_FEATURES))
            if w and value:
                out[name] = w * value
        return out

    def weights(self) -> dict[str, float]:
        """The learned weight of every feature the stats know by name."""
        return self.contributions({name: 1.0 for name in self.stats})

    # -- persistence -------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        coef: dict[str, float] = {}
        intercept, t = 0.0, 1.0
        if self._trained:
            coef = {str(i): w for i, w in sorted(self._sgd.coef().items())}
            intercept, t = self._sgd.intercept, self._sgd.t
        return {"format": STATE_FORMAT, "n_features": N_FEATURES, "coef": coef, "intercept": intercept,
                "t": t, "events": self.events, "stats": self.stats,
                "ignored_through": self.ignored_through.isoformat() if self.ignored_through else None,
                "ignored": sorted(self.ignored)}

    @classmethod
    def from_state(cls, state: Mapping[str, Any] | None) -> UserModel:
        """The model a :meth:`state` describes (a fresh one for None or an unknown format)."""
        m = cls()
        if not state or state.get("format") != STATE_FORMAT or state.get("n_features") != N_FEATURES:
            return m
        m.events = int(state.get("events", 0))
        m.stats = {k: dict(v) for k, v in (state.get("stats") or {}).items()}
        if state.get("ignored_through"):
            m.ignored_through = datetime.fromisoformat(state["ignored_through"])
        m.ignored = {int(i) for i in state.get("ignored") or ()}
        coef = {int(i): float(w) for i, w in (state.get("coef") or {}).items()}
        if coef or state.get("intercept"):
            m._sgd = SparseSGD(eta0=ETA0, alpha=ALPHA, coef=coef, intercept=float(state.get("intercept", 0.0)),
                               t=float(state.get("t", 1.0)))
            m._trained = True
        return m
