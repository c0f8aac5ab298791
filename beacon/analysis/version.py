"""The analysis pipeline's version, computable without importing spaCy.

The main process (web, CLI, engine supervisor) needs the version to find emails that lack an
analysis, but must never import spaCy itself: keep this module free of heavy imports.
"""

from __future__ import annotations

from beacon.analysis.requests import DETECTOR_VERSION
from beacon.settings import Settings

# Bump when analysis code or the shipped request model changes what an analysis contains.
ANALYSIS_CODE_VERSION = "2"


def pipeline_version(settings: Settings) -> str:
    return f"{ANALYSIS_CODE_VERSION}+{DETECTOR_VERSION}+{settings.spacy_model}"
