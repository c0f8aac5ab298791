"""spaCy pipeline components Beacon adds to any loaded model.

Imported only inside worker processes (it imports spaCy). Registration is idempotent: spaCy's
registry tolerates re-registering the same factory name from the same function.
"""

from __future__ import annotations

from spacy.language import Language
from spacy.tokens import Doc


@Language.component("beacon_paragraphs")
def paragraph_boundaries(doc: Doc) -> Doc:
    """Start a sentence after every blank line.

    Email is written in short paragraphs, greetings and sign-offs without final punctuation;
    the statistical parser happily glues "Corp?\\n\\nBest,\\nDana" into one sentence.
    """
    for i, tok in enumerate(doc[:-1]):
        if tok.is_space and tok.text.count("\n") >= 2:
            doc[i + 1].is_sent_start = True
        elif "\n\n" in tok.whitespace_ and i + 1 < len(doc):
            doc[i + 1].is_sent_start = True
    return doc


def add_components(nlp: Language) -> Language:
    if "beacon_paragraphs" not in nlp.pipe_names:
        before = "parser" if "parser" in nlp.pipe_names else None
        nlp.add_pipe("beacon_paragraphs", before=before) if before else nlp.add_pipe("beacon_paragraphs", first=True)
    return nlp
