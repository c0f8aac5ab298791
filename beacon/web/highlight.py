"""Split an analysed text into segments, each marked with what covers it.

Spans overlap (an entity inside a request sentence), so the text is cut at every span
boundary and each piece carries the set of marks over it; templates render a piece as a
``<mark>`` with one class per mark. Offsets come from the analysis, so nothing is re-run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from beacon.analysis.models import Analysis


@dataclass(frozen=True)
class Mark:
    kind: str  # "entity" | "request" | "action" | "time"
    label: str  # e.g. PERSON, or "request"


@dataclass
class Segment:
    text: str
    marks: list[Mark] = field(default_factory=list)

    @property
    def css(self) -> str:
        classes = {f"hl-{m.kind}" for m in self.marks}
        classes |= {f"ent-{m.label.lower()}" for m in self.marks if m.kind == "entity"}
        return " ".join(sorted(classes))

    @property
    def title(self) -> str:
        return ", ".join(dict.fromkeys(m.label for m in self.marks))


def spans_of(analysis: Analysis) -> list[tuple[int, int, Mark]]:
    out: list[tuple[int, int, Mark]] = []
    for ent in analysis.entities:
        out += [(s, e, Mark("entity", ent.label)) for s, e in ent.spans]
    out += [(r.start, r.end, Mark("request", "request")) for r in analysis.requests]
    out += [(a.start, a.end, Mark("action", "action item")) for a in analysis.action_items]
    out += [(t.start, t.end, Mark("time", "deadline" if t.is_deadline else "date")) for t in analysis.time_refs]
    n = len(analysis.text)
    return [(max(0, s), min(n, e), m) for s, e, m in out if 0 <= s < e]


def segments(text: str, spans: list[tuple[int, int, Mark]]) -> list[Segment]:
    cuts = sorted({0, len(text), *(s for s, _, _ in spans), *(e for _, e, _ in spans)})
    out: list[Segment] = []
    for a, b in zip(cuts, cuts[1:]):
        if a >= b:
            continue
        marks = [m for s, e, m in spans if s <= a and b <= e]
        if out and out[-1].marks == marks:
            out[-1].text += text[a:b]
        else:
            out.append(Segment(text[a:b], marks))
    return out


def highlight(analysis: Analysis) -> list[Segment]:
    return segments(analysis.text, spans_of(analysis))
