"""The reader's model without scikit-learn computes what scikit-learn would: the same feature
columns as ``FeatureHasher`` and the same weights as ``SGDClassifier.partial_fit`` after the same
weighted examples, learned in several calls as the triage loop does. And the web process never
imports scikit-learn to score or learn."""

from __future__ import annotations

import random
import subprocess
import sys

import numpy as np
from sklearn.feature_extraction import FeatureHasher
from sklearn.linear_model import SGDClassifier

from beacon.triage.learning.hashing import bucket
from beacon.triage.learning.model import ALPHA, ETA0, N_FEATURES, UserModel
from beacon.triage.learning.signals import Example, Signal


def _examples(n: int, seed: int) -> list[tuple[dict[str, float], Example]]:
    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        feats = {f"sender:p{rnd.randrange(12)}@x{rnd.randrange(3)}.org": 1.0, f"kind:{rnd.choice('abc')}": 1.0,
                 "factor:request": round(rnd.uniform(-1, 2), 3), f"thread:{rnd.randrange(40)}": 1.0,
                 f"list:l{rnd.randrange(4)}.ünï.org": 1.0}
        positive = rnd.random() < 0.4
        out.append((feats, Example(Signal.important if positive else Signal.done_unread, positive,
                                   rnd.choice((1.0, 0.8, 0.5, 0.2)))))
    return out


def test_feature_columns_are_feature_hashers() -> None:
    names = [f"sender:user{i}@example.org" for i in range(3000)] + ["list:ünïcode.example", "kind:personal", ""]
    x = FeatureHasher(n_features=N_FEATURES, input_type="dict", alternate_sign=False).transform(
        [{n: 1.0} for n in names])
    assert [int(x.indices[x.indptr[k]]) for k in range(len(names))] == [bucket(n, N_FEATURES) for n in names]
    assert len(set(x.indices)) > 2900  # the names really spread over the buckets


def test_weights_equal_scikit_learns_partial_fit_over_several_calls() -> None:
    hasher = FeatureHasher(n_features=N_FEATURES, input_type="dict", alternate_sign=False)
    clf = SGDClassifier(loss="log_loss", penalty="l2", alpha=ALPHA, learning_rate="constant", eta0=ETA0,
                        shuffle=False)
    ours = UserModel()
    examples = _examples(300, seed=3)
    for start in range(0, len(examples), 7):  # calls of 1-7 examples, as actions come
        chunk = examples[start : start + 1 + start % 7]
        clf.partial_fit(hasher.transform([f for f, _ in chunk]), [int(e.positive) for _, e in chunk],
                        classes=np.array([0, 1]), sample_weight=np.array([e.weight for _, e in chunk]))
        ours.learn_many(chunk)
    mine = ours.state()
    theirs = {str(int(i)): float(clf.coef_[0][i]) for i in np.flatnonzero(clf.coef_[0])}
    assert mine["coef"].keys() == theirs.keys() and len(theirs) > 50
    assert np.allclose([mine["coef"][k] for k in theirs], list(theirs.values()), rtol=1e-9, atol=1e-12)
    assert np.isclose(mine["intercept"], clf.intercept_[0], rtol=1e-9) and mine["t"] == clf.t_
    # A stored model continues exactly where it stopped.
    again = UserModel.from_state(mine)
    more = _examples(20, seed=4)
    again.learn_many(more)
    ours.learn_many(more)
    assert again.state() == ours.state()


def test_learning_and_scoring_never_import_scikit_learn() -> None:
    code = ("import sys\nfrom beacon.triage.learning.model import UserModel\n"
            "from beacon.triage.learning.signals import Example, Signal\n"
            "m = UserModel(); m.learn({'sender:a@b.org': 1.0}, Example(Signal.important, True, 1.0))\n"
            "assert m.contributions({'sender:a@b.org': 1.0})['sender:a@b.org'] > 0\n"
            "import beacon.web.app\n"
            "print(sorted(k for k in sys.modules if k.split('.')[0] in ('sklearn', 'scipy')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
