"""The statistical half of the mail-kind decision: P(personal | bulk | spam) from the words.

A multinomial logistic regression over sublinear TF-IDF of word unigrams and bigrams (subject
and body) plus a few layout tokens (HTML only, link and image counts), trained offline by
``python -m beacon.analysis.train_kind`` on the SpamAssassin training split and shipped, like
the request detector, as gzipped JSON scored in plain Python (no pickle, no scikit-learn at run
time). It never reads headers: server verdicts and list headers are weighed by rules in
``beacon.analysis.kind``, and the training mail's verdict headers are stripped before parsing.
"""

from __future__ import annotations

import math
import re
from array import array
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from beacon.analysis.artifacts import load_json_gz, save_json_gz
from beacon.models import Email

CLASSES = ("personal", "bulk", "spam")
FEATURE_VERSION = 2
MODEL_VERSION = f"kind-lr-f{FEATURE_VERSION}-1"  # part of the analysis pipeline version
ARTIFACT_FORMAT = "beacon-kind-model"
ARTIFACT_PATH = Path(__file__).parent / "data" / "kind_model.json.gz"
MAX_BODY_CHARS = 6000

_TOKEN = re.compile(r"[a-z0-9$€£¥%]+(?:['.][a-z0-9]+)*")
# The public corpus masks its owners' addresses with runs of one letter ("yyyy@", "zzzz-list");
# such tokens say which corpus a mail came from, not what it is.
_MASKED = re.compile(r"(?:y{3,}|z{3,}|q{3,}|x{4,})")
_LINK = re.compile(r"https?://|www\.", re.IGNORECASE)
_HTML_LINK = re.compile(r"<a\s[^>]*href", re.IGNORECASE)
_HTML_IMG = re.compile(r"<img\b", re.IGNORECASE)


def _bucket(n: int, edges: Sequence[int]) -> str:
    for edge in edges:
        if n <= edge:
            return str(edge)
    return f">{edges[-1]}"


def _words(text: str) -> list[str]:
    return [t for t in _TOKEN.findall(text.lower()) if 1 < len(t) <= 30 and not _MASKED.search(t)]


_FOOTER_RULE = re.compile(r"^[ \t]*(?:_{5,}|-{5,}|={5,})[ \t]*$", re.MULTILINE)
_LIST_FOOTER = re.compile(r"list|unsubscribe|listinfo|mailman|sponsor", re.IGNORECASE)


def strip_list_footer(text: str) -> str:
    """Cut the footer a mailing list appends to every post: it says which list, not what the
    writer wrote (and in the training corpus it would teach "a list footer means not spam")."""
    tail_start = max(0, len(text) - 1500)
    for m in reversed(list(_FOOTER_RULE.finditer(text, tail_start))):
        if _LIST_FOOTER.search(text[m.end():]):
            return text[: m.start()].rstrip()
    return text


def features(email: Email) -> list[str]:
    """Terms of one email: subject words (``s:``), body unigrams and bigrams, layout tokens.

    The body is the message's own new text (no quoted history or signature); a discussion
    list's footer is cut off."""
    body = email.new_text or email.text or ""
    lh = email.list_headers
    if lh.list_id or lh.list_post:
        body = strip_list_footer(body)
    body = body[:MAX_BODY_CHARS]
    subject = email.subject or ""
    feats = [f"s:{w}" for w in _words(subject)]
    words = _words(body)
    feats += words
    feats += [f"{a} {b}" for a, b in zip(words, words[1:])]
    html = email.html or ""
    links = len(_HTML_LINK.findall(html)) if html else len(_LINK.findall(body))
    feats.append(f"_links:{_bucket(links, (0, 2, 5, 10, 20))}")
    feats.append(f"_images:{_bucket(len(_HTML_IMG.findall(html)), (0, 2, 5))}")
    feats.append("_html_only" if email.text_from_html else "_html" if html else "_plain")
    letters = [c for c in subject if c.isalpha()]
    if len(letters) >= 8 and sum(c.isupper() for c in letters) / len(letters) > 0.7:
        feats.append("_subject_caps")
    exclaim = subject.count("!") + body[:2000].count("!")
    if exclaim:
        feats.append(f"_exclaim:{_bucket(exclaim, (1, 3))}")
    return feats


class ArtifactError(ValueError):
    """The kind model is missing or was built for other feature code."""


@dataclass(frozen=True)
class KindModel:
    """Vocabulary, idf and one coefficient column per class; immutable, shared by a worker."""

    index: Mapping[str, int]
    idf: array[float]
    coef: Mapping[str, array[float]]  # class -> coefficients in index order
    intercept: Mapping[str, float]
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def probabilities(self, feats: Sequence[str]) -> dict[str, float]:
        """Softmax over the classes of coef . x, x the L2-normalised sublinear TF-IDF vector."""
        dots = dict.fromkeys(CLASSES, 0.0)
        sq = 0.0
        for term, count in Counter(feats).items():
            i = self.index.get(term)
            if i is None:
                continue
            x = (1.0 + math.log(count)) * self.idf[i]
            sq += x * x
            for c in CLASSES:
                dots[c] += x * self.coef[c][i]
        norm = math.sqrt(sq) if sq > 0 else 1.0
        z = {c: self.intercept[c] + dots[c] / norm for c in CLASSES}
        top = max(z.values())
        e = {c: math.exp(v - top) for c, v in z.items()}
        total = sum(e.values())
        return {c: e[c] / total for c in CLASSES}

    def predict(self, email: Email) -> dict[str, float]:
        return self.probabilities(features(email))

    def top_terms(self, email: Email, cls: str, n: int = 3) -> list[str]:
        """The terms of this email that pushed hardest towards ``cls`` (for the explanation)."""
        scored = []
        for term in set(features(email)):
            i = self.index.get(term)
            if i is None or term.startswith("_"):
                continue
            others = max(self.coef[c][i] for c in CLASSES if c != cls)
            scored.append((self.coef[cls][i] - others, term.removeprefix("s:")))
        best = dict.fromkeys(t for w, t in sorted(scored, reverse=True) if w > 0)  # "s:x" and "x" are one word
        return list(best)[:n]

    # -- persistence -------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {
            "format": ARTIFACT_FORMAT, "model_version": MODEL_VERSION, "feature_version": FEATURE_VERSION,
            "classes": list(CLASSES), "terms": list(self.index), "idf": self.idf.tolist(),
            "coef": {c: self.coef[c].tolist() for c in CLASSES},
            "intercept": dict(self.intercept), "metadata": dict(self.metadata),
        }

    def save(self, path: Path = ARTIFACT_PATH) -> None:
        save_json_gz(self.to_json(), path)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> KindModel:
        for key, want in (("format", ARTIFACT_FORMAT), ("model_version", MODEL_VERSION),
                          ("feature_version", FEATURE_VERSION), ("classes", list(CLASSES))):
            if data.get(key) != want:
                raise ArtifactError(f"kind model {key}={data.get(key)!r}, code expects {want!r}: "
                                    "retrain with `python -m beacon.analysis.train_kind`")
        terms = data["terms"]
        coef = {c: array("d", data["coef"][c]) for c in CLASSES}
        if any(len(col) != len(terms) for col in coef.values()) or len(data["idf"]) != len(terms):
            raise ArtifactError("kind model columns have different lengths")
        return cls(index={t: i for i, t in enumerate(terms)}, idf=array("d", data["idf"]), coef=coef,
                   intercept={c: float(data["intercept"][c]) for c in CLASSES}, metadata=data.get("metadata", {}))

    @classmethod
    def load(cls, path: Path = ARTIFACT_PATH) -> KindModel:
        try:
            return cls.from_json(load_json_gz(path))
        except FileNotFoundError as exc:
            raise ArtifactError(f"kind model not found at {path}") from exc
