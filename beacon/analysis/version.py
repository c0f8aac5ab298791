"""The analysis pipeline's version, computable without importing spaCy.

The main process (web, CLI, engine supervisor) needs the version to find emails that lack an
analysis, but must never import spaCy itself: keep this module free of heavy imports.
"""

from __future__ import annotations

from beacon.analysis.kind_model import MODEL_VERSION as KIND_MODEL_VERSION
from beacon.analysis.requests import DETECTOR_VERSION
from beacon.settings import Settings

# Bump when analysis code or a shipped model changes what an analysis contains.
ANALYSIS_CODE_VERSION = "3"


def pipeline_version(settings: Settings) -> str:
    full = "" if settings.light_machine_mail else "+full"
    return f"{ANALYSIS_CODE_VERSION}+{DETECTOR_VERSION}+{KIND_MODEL_VERSION}+{settings.spacy_model}{full}"
