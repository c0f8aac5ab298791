"""Train the mail-kind text model on the SpamAssassin training split and write the artifact.

    python -m beacon.analysis.train_kind            # regenerate beacon/analysis/data/kind_model.json.gz
    python -m beacon.analysis.train_kind --check    # fail if the shipped file differs

Only the training split is read: ``easy-ham-2/``, ``spam-1/`` and the even-numbered files of
``hard-ham-1/`` (the rest of the corpus is kept for judging). Labels come from
``bench/data/spamassassin-kinds.tsv`` (hand-labelled kinds; spam-1 is spam). Server verdict
headers (X-Spam-*, rspamd's, MailScanner's) are cut from the raw bytes before parsing, so no
verdict a server already wrote can leak into the model. ``fit_kind_model`` is the one training
procedure: the shipped model and every cross-validation fold of ``bench/triage.py`` use it.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from beacon.analysis.artifacts import write_or_check
from beacon.analysis.kind_model import ARTIFACT_PATH, CLASSES, KindModel, features
from beacon.models import Email

LABELS_PATH = Path(__file__).resolve().parents[2] / "bench" / "data" / "spamassassin-kinds.tsv"
TRAIN_FOLDERS = ("easy-ham-2", "spam-1", "hard-ham-1")
KINDS = ("personal", "notification", "newsletter", "marketing", "spam")
MODEL_CLASS = {"personal": "personal", "notification": "bulk", "newsletter": "bulk", "marketing": "bulk",
               "spam": "spam"}

_VERDICT_HEADER = re.compile(
    rb"^(?:X-Spam[\w-]*|X-Spamd-[\w-]+|X-Rspamd-[\w-]+|X-MailScanner-SpamCheck|X-Mailscanner-Spamcheck|"
    rb"X-Evi-Mailscanner-Spamcheck|X-SpamCop-[\w-]+|X-Spam|X-Junk[\w-]*|X-Virus-Scanned)"
    rb":[^\n]*\n(?:[ \t][^\n]*\n)*",
    re.IGNORECASE | re.MULTILINE,
)


def strip_verdict_headers(raw: bytes) -> bytes:
    """The message without any header a spam filter wrote (only in the header block)."""
    raw = raw.replace(b"\r\n", b"\n")
    end = raw.find(b"\n\n")
    head, body = (raw, b"") if end < 0 else (raw[: end + 1], raw[end + 1 :])
    return _VERDICT_HEADER.sub(b"", head) + body


def in_training_split(path: Path) -> bool:
    """True for easy-ham-2/, spam-1/ and even-numbered hard-ham-1/ files."""
    folder = path.parent.name
    if folder not in TRAIN_FOLDERS:
        return False
    if folder == "hard-ham-1":
        digits = re.match(r"\d+", path.name)
        return bool(digits) and int(digits.group(0)) % 2 == 0
    return True


def load_labels(path: Path = LABELS_PATH) -> dict[str, str]:
    """``folder/number`` -> kind."""
    labels: dict[str, str] = {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        key, _, kind = line.partition("\t")
        if kind not in KINDS:
            raise ValueError(f"{path}:{lineno}: unknown kind {kind!r}")
        labels[key] = kind
    return labels


def label_key(path: Path) -> str:
    m = re.match(r"\d+", path.name)
    return f"{path.parent.name}/{m.group(0) if m else path.stem}"


@dataclass(frozen=True)
class Example:
    key: str
    path: Path
    email: Email
    kind: str


def load_examples(root: Path, labels: dict[str, str] | None = None) -> list[Example]:
    """Every training-split message under ``root`` (the corpus folder), parsed, with its kind."""
    from beacon.parse import parse_message

    labels = load_labels() if labels is None else labels
    out: list[Example] = []
    for folder in TRAIN_FOLDERS:
        for path in sorted((root / folder).glob("*.txt")):
            if not in_training_split(path):
                continue
            key = label_key(path)
            if key not in labels:
                raise ValueError(f"{key} has no label in {LABELS_PATH.name}")
            email = parse_message(strip_verdict_headers(path.read_bytes())).email
            out.append(Example(key, path, email, labels[key]))
    return out


@dataclass(frozen=True)
class TrainParams:
    c: float = 4.0  # inverse L2 strength (flat between 2 and 10 in cross-validation)
    min_df: int = 2
    max_features: int = 30_000
    max_iter: int = 3000


def _identity(feats: list[str]) -> list[str]:
    return feats


def fit_kind_model(emails: Sequence[Email], kinds: Sequence[str], params: TrainParams = TrainParams(),
                   metadata: dict[str, object] | None = None) -> KindModel:
    """TF-IDF + multinomial logistic regression, exported as a plain ``KindModel``."""
    from array import array

    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    feats = [features(e) for e in emails]
    vec = TfidfVectorizer(analyzer=_identity, sublinear_tf=True, min_df=params.min_df,
                          max_features=params.max_features)
    x = vec.fit_transform(feats)
    y = np.asarray([MODEL_CLASS[k] for k in kinds])
    clf = LogisticRegression(C=params.c, max_iter=params.max_iter).fit(x, y)
    classes = list(clf.classes_)
    if sorted(classes) != sorted(CLASSES):
        raise ValueError(f"training data must hold every class {CLASSES}, got {classes}")
    order = sorted(vec.vocabulary_.items(), key=lambda kv: kv[0])
    cols = [j for _, j in order]
    model = KindModel(
        index={t: i for i, (t, _) in enumerate(order)},
        idf=array("d", (round(float(vec.idf_[j]), 7) for j in cols)),
        coef={c: array("d", (round(float(clf.coef_[classes.index(c)][j]), 7) for j in cols)) for c in CLASSES},
        intercept={c: round(float(clf.intercept_[classes.index(c)]), 7) for c in CLASSES},
        metadata=metadata or {},
    )
    _check_same(model, feats, clf.predict_proba(x), classes)
    return model


def _check_same(model: KindModel, feats: Iterable[list[str]], expected: object, classes: list[str]) -> None:
    """The plain-Python scorer must reproduce scikit-learn's probabilities (rounding aside)."""
    worst = 0.0
    for f, row in zip(feats, expected, strict=True):  # type: ignore[call-overload]
        got = model.probabilities(f)
        worst = max(worst, max(abs(got[c] - float(row[classes.index(c)])) for c in CLASSES))
    if worst > 1e-4:
        raise AssertionError(f"exported kind model disagrees with sklearn by {worst:.2e}")


def train(root: Path) -> KindModel:
    import sklearn

    examples = load_examples(root)
    params = TrainParams()
    metadata: dict[str, object] = {
        "labels_sha256": hashlib.sha256(LABELS_PATH.read_bytes()).hexdigest(),
        "n_emails": len(examples),
        "per_class": {c: sum(MODEL_CLASS[e.kind] == c for e in examples) for c in CLASSES},
        "folders": "easy-ham-2, spam-1, even hard-ham-1",
        "sklearn_version": sklearn.__version__,
        "params": {"C": params.c, "min_df": params.min_df, "max_features": params.max_features},
    }
    return fit_kind_model([e.email for e in examples], [e.kind for e in examples], params, metadata)


def main(argv: Sequence[str] | None = None) -> int:
    from testkit.corpora import spamassassin_dir

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=None, help="SpamAssassin folder (default: the cached corpus)")
    ap.add_argument("--out", type=Path, default=ARTIFACT_PATH)
    ap.add_argument("--check", action="store_true", help="compare with --out instead of writing it")
    args = ap.parse_args(argv)
    model = train(args.corpus or spamassassin_dir())
    return write_or_check(model.save, args.out, args.check, f"{len(model.index)} terms")


if __name__ == "__main__":
    sys.exit(main())
