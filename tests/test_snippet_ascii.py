"""The snippet finds the first searched word of ASCII text by one regular expression: the same
word the word-by-word walk (kept here as the reference) finds, on any text and terms."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from beacon.query.model import Text
from beacon.query.snippet import _WORD, _first_hit, _matcher, fold, snippet


def _walk(body: str, terms: list[Text]) -> int | None:
    exact, prefixes = _matcher(terms)
    for m in _WORD.finditer(body):
        f = fold(m.group())
        if f in exact or (prefixes and f.startswith(prefixes)):
            return m.start()
    return None


def _first(body: str, terms: list[Text]) -> int | None:
    exact, prefixes = _matcher(terms)

    def hit(word: str) -> bool:
        f = fold(word)
        return f in exact or (bool(prefixes) and f.startswith(prefixes))

    return _first_hit(body, exact, prefixes, hit)


_WORDS = ["meet", "Meeting", "MEETINGS", "report2", "2024", "a", "ab", "cafe", "Café", "x_y", "k", "naïve", "ß"]
_SEP = [" ", "  ", "\n", "-", "_", ".", ", ", "/", "'", "\t"]
text = st.lists(st.tuples(st.sampled_from(_WORDS), st.sampled_from(_SEP)), max_size=30).map(
    lambda parts: "".join(w + s for w, s in parts))
terms = st.lists(st.builds(Text, st.sampled_from(_WORDS + ["me", "report", "CAF", "2"]), prefix=st.booleans()),
                 min_size=1, max_size=3)


@settings(max_examples=400, deadline=None)
@given(text, terms)
def test_the_first_hit_is_the_walks(body: str, ts: list[Text]) -> None:
    assert _first(body, ts) == _walk(body, ts)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=127), max_size=200), terms)
def test_any_ascii_text(body: str, ts: list[Text]) -> None:
    assert body.isascii()
    assert _first(body, ts) == _walk(body, ts)


def test_case_prefixes_and_word_edges() -> None:
    body = "Re: the MEETING_notes and meetings2 at meet-up; Meeting"
    assert _first(body, [Text("meeting")]) == body.index("MEETING_")  # "_" ends a word
    assert _first(body, [Text("meetings")]) is None  # "meetings2" is another word
    assert _first(body, [Text("meet", prefix=True)]) == body.index("MEETING_")
    assert _first("xcafe cafe", [Text("café")]) == 6  # the accent folds away, as in the index
    s = snippet("Nothing here. " * 30 + "The quarterly REPORT is late.", [Text("report")])
    assert s.text.startswith("…") and [s.text[a:b] for a, b in s.highlights] == ["REPORT"]
