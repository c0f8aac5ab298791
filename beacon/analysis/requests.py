"""Request detector: P(a sentence asks the reader to do something).

A linear model over TF-IDF blocks of word n-grams and parse features (see
``request_features``), trained on the shared email-intent data by
``python -m beacon.analysis.train_requests``. The model ships as gzipped JSON (vocabulary,
idf and coefficient per term) rather than a pickle: it loads without scikit-learn, cannot run
code, and survives library upgrades. Scoring re-implements sklearn's sublinear TF-IDF + L2
norm + logistic function in plain Python, which for a ~20-token sentence is a few dozen dict
look-ups, cheap enough to run on every sentence inside the spaCy workers. The training script
checks that these scores equal scikit-learn's own before it writes the artifact.

The model's probability is then checked against the sentence's grammar (``clause``): a plain
commitment of the writer ("I'll discuss it with Carlos", "We will send the deck") and a question
that asks nothing ("Why wait?", a lone "?") are never requests, whatever the n-grams say. The
training data labels some commitments as requests, so the model alone cannot learn this.
"""

from __future__ import annotations

import gzip
import json
import math
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from beacon.analysis.request_features import BLOCKS, FEATURE_VERSION, TokenTable, read_sentence
from beacon.errors import ArtifactError

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.tokens import Doc, Span

# Part of the analysis pipeline version: bump when the model or its features change.
DETECTOR_VERSION = f"tfidf-lr-f{FEATURE_VERSION}-2"
ARTIFACT_FORMAT = "beacon-request-detector"
ARTIFACT_FORMAT_VERSION = 2
ARTIFACT_PATH = Path(__file__).parent / "data" / "request_detector.json.gz"

# Annotations the features read; a Doc parsed without them would silently score nonsense.
_REQUIRED_ANNOTATIONS = ("TAG", "DEP")

# A term's (idf, coefficient); the coefficient already includes the block's weight.
Term = tuple[float, float]

# What one sentence does: asks the reader, commits the writer, asks nothing, or just states.
Intent = Literal["request", "commitment", "rhetorical", "statement"]


@dataclass(frozen=True)
class Verdict:
    """The detector's call on one sentence: the model's probability and the final intent."""

    prob: float
    intent: Intent

    @property
    def is_request(self) -> bool:
        return self.intent == "request"


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


@dataclass(frozen=True)
class Block:
    """One feature block: term -> row, and per row its idf and coefficient.

    Arrays of floats rather than a dict of tuples, loaded from parallel JSON columns: ~10 MB
    RSS per worker process instead of ~16 MB, at the same look-up speed.
    """

    index: Mapping[str, int]
    idf: array[float]
    coef: array[float]

    @classmethod
    def from_terms(cls, terms: Mapping[str, Term]) -> Block:
        ordered = sorted(terms.items())
        return cls(
            index={t: i for i, (t, _) in enumerate(ordered)},
            idf=array("d", (v[0] for _, v in ordered)),
            coef=array("d", (v[1] for _, v in ordered)),
        )

    @classmethod
    def from_json(cls, data: Mapping[str, list[Any]]) -> Block:
        terms, idf, coef = data["terms"], data["idf"], data["coef"]
        if not len(terms) == len(idf) == len(coef):
            raise ArtifactError("request model block has columns of different lengths")
        return cls(index={t: i for i, t in enumerate(terms)}, idf=array("d", idf), coef=array("d", coef))

    def to_json(self) -> dict[str, list[Any]]:
        """Parallel columns (terms sorted): compact, and cheap to load without garbage."""
        return {"terms": list(self.index), "idf": self.idf.tolist(), "coef": self.coef.tolist()}

    def __len__(self) -> int:
        return len(self.index)

    def score(self, features: Iterable[str]) -> float:
        """coef . x, x being the L2-normalised sublinear TF-IDF vector of ``features``."""
        dot = 0.0
        sq = 0.0
        for feat, count in Counter(features).items():
            i = self.index.get(feat)
            if i is None:
                continue  # out of vocabulary: absent from the vector, as in sklearn
            x = (1.0 + math.log(count)) * self.idf[i]
            dot += x * self.coef[i]
            sq += x * x
        return dot / math.sqrt(sq) if sq > 0.0 else 0.0


@dataclass(frozen=True)
class RequestDetector:
    """A trained request detector; immutable, so one instance is safely shared by a worker."""

    intercept: float
    blocks: Mapping[str, Block]
    threshold: float = 0.5
    metadata: Mapping[str, Any] = field(default_factory=dict)

    # -- scoring -------------------------------------------------------------------------------
    def score_sents(self, sents: Sequence[Span]) -> list[float]:
        """P(request) for each already-parsed sentence; never re-parses (pass ``doc[:]`` for a Doc)."""
        return [self._prob(read_sentence(sent, table)[0]) for sent, table in _with_tables(sents)]

    def score_texts(self, texts: Sequence[str], nlp: Language) -> list[float]:
        """Convenience for plain strings: parse each text with ``nlp`` and score it as one unit."""
        return self.score_sents([doc[:] for doc in nlp.pipe(texts)])

    def judge_sents(self, sents: Sequence[Span]) -> list[Verdict]:
        """The model's probability plus the grammar's veto, per already-parsed sentence.

        This is what decides a request; ``score_sents`` is the model alone.
        """
        out: list[Verdict] = []
        for sent, table in _with_tables(sents):
            feats, clause = read_sentence(sent, table)
            prob = self._prob(feats)
            intent: Intent
            if clause.commitment:
                intent = "commitment"
            elif clause.rhetorical:
                intent = "rhetorical"
            else:
                intent = "request" if prob >= self.threshold else "statement"
            out.append(Verdict(prob, intent))
        return out

    def judge_texts(self, texts: Sequence[str], nlp: Language) -> list[Verdict]:
        """``judge_sents`` for plain strings, each parsed and judged as one unit."""
        return self.judge_sents([doc[:] for doc in nlp.pipe(texts)])

    def is_request(self, prob: float) -> bool:
        """The model's threshold alone; ``judge_sents`` adds the grammar's veto."""
        return prob >= self.threshold

    def _prob(self, feats: Mapping[str, list[str]]) -> float:
        z = self.intercept + sum(self.blocks[b].score(feats[b]) for b in BLOCKS)
        return _sigmoid(z)

    # -- persistence ---------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {
            "format": ARTIFACT_FORMAT,
            "format_version": ARTIFACT_FORMAT_VERSION,
            "detector_version": DETECTOR_VERSION,
            "feature_version": FEATURE_VERSION,
            "threshold": self.threshold,
            "intercept": self.intercept,
            "blocks": {b: self.blocks[b].to_json() for b in BLOCKS},
            "metadata": dict(self.metadata),
        }

    def save(self, path: Path = ARTIFACT_PATH) -> None:
        """Write gzipped JSON, byte-for-byte reproducible (sorted keys, zero gzip mtime)."""
        raw = json.dumps(self.to_json(), sort_keys=True, separators=(",", ":")).encode("utf-8")
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as fh, gzip.GzipFile(filename="", fileobj=fh, mode="wb", mtime=0, compresslevel=9) as gz:
            gz.write(raw)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RequestDetector:
        expected = {
            "format": ARTIFACT_FORMAT,
            "format_version": ARTIFACT_FORMAT_VERSION,
            "detector_version": DETECTOR_VERSION,
            "feature_version": FEATURE_VERSION,
        }
        for key, want in expected.items():
            if data.get(key) != want:
                raise ArtifactError(
                    f"request model {key}={data.get(key)!r}, code expects {want!r}: "
                    "retrain with `python -m beacon.analysis.train_requests`"
                )
        blocks = {b: Block.from_json(data["blocks"][b]) for b in BLOCKS}
        return cls(
            intercept=float(data["intercept"]),
            blocks=blocks,
            threshold=float(data["threshold"]),
            metadata=data.get("metadata", {}),
        )

    @classmethod
    def load(cls, path: Path = ARTIFACT_PATH) -> RequestDetector:
        """Load the shipped model (or another artifact written by ``save``)."""
        try:
            with gzip.open(path, "rb") as fh:
                data = json.loads(fh.read().decode("utf-8"))
        except FileNotFoundError as exc:
            raise ArtifactError(f"request model not found at {path}") from exc
        return cls.from_json(data)


def _with_tables(sents: Sequence[Span]) -> Iterator[tuple[Span, TokenTable]]:
    """Each sentence with its Doc's TokenTable, built once per Doc."""
    tables: dict[int, TokenTable] = {}
    for sent in sents:
        table = tables.get(id(sent.doc))
        if table is None:
            _check_annotations(sent.doc)
            table = tables[id(sent.doc)] = TokenTable.of(sent.doc)
        yield sent, table


def _check_annotations(doc: Doc) -> None:
    missing = [a for a in _REQUIRED_ANNOTATIONS if not doc.has_annotation(a)]
    if missing and len(doc):
        raise ValueError(
            f"request detector needs a Doc parsed with the tagger and parser; missing {missing}"
        )
