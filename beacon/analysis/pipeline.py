"""The analysis pipeline: spaCy over a batch of emails -> list of typed Analysis results.

``Pipeline.analyze`` is a pure function of (emails, settings): the engine runs the very same
code in the calling process, in a one-shot subprocess or in pooled workers, and the results are
identical. spaCy is imported only when a pipeline is loaded, never at module import.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from beacon.analysis.models import Analysis
from beacon.analysis.version import pipeline_version
from beacon.models import Email
from beacon.settings import Settings

if TYPE_CHECKING:
    from spacy.language import Language

# Components the analysis never reads; excluded so they are not even loaded (saves memory).
EXCLUDE = ["lemmatizer"]


class Pipeline:
    def __init__(self, nlp: Language, settings: Settings) -> None:
        self.nlp = nlp
        self.settings = settings
        self.version = pipeline_version(settings)

    @classmethod
    def load(cls, settings: Settings) -> Pipeline:
        import spacy

        nlp = spacy.load(settings.spacy_model, exclude=EXCLUDE)
        return cls(nlp, settings)

    def analyze(self, emails: Sequence[Email]) -> list[Analysis]:
        raise NotImplementedError  # filled in by the analysis work (issue 3)


def analyze_to_json(pipeline: Pipeline, emails: Sequence[Email]) -> list[dict[str, Any]]:
    """Analyse inside a spaCy memory zone and return plain JSON-ready dicts.

    Docs and Spans must not outlive the zone (spaCy frees their strings on exit), so results
    are converted to plain data before it closes. Zones must not nest: one at a time per process.
    """
    with pipeline.nlp.memory_zone():
        return [a.model_dump(mode="json") for a in pipeline.analyze(emails)]
