"""Feature hashing as scikit-learn's ``FeatureHasher(alternate_sign=False)`` does it, without
importing scikit-learn (about 90 MB in the web process): the signed 32-bit MurmurHash3 of the
feature's UTF-8 name, seed 0 (``mmh3``), its absolute value modulo the number of buckets.
``tests/test_learning_sgd.py`` checks the indices against scikit-learn's own.
"""

from __future__ import annotations

import mmh3

_INT32_MIN = -(2**31)


def bucket(name: str, n_features: int) -> int:
    """The column ``name`` falls in among ``n_features``."""
    h = mmh3.hash(name.encode("utf-8"), 0, signed=True)
    if h == _INT32_MIN:  # abs() would overflow in C: scikit-learn's special case
        return (2**31 - 1 - (n_features - 1)) % n_features
    return abs(h) % n_features
