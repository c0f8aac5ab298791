"""Jinja filters the templates share (dates, sizes, level styles)."""

from __future__ import annotations

from datetime import datetime

from jinja2 import Environment

from beacon.web.display import clean_line, isolate

LEVEL_CLASS = {"HIGH": "lvl-high", "MEDIUM": "lvl-medium", "LOW": "lvl-low"}


def fmt_dt(value: datetime | str | None, fmt: str = "%a %d %b %Y, %H:%M") -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, str):  # an API model's ISO-8601 text
        value = datetime.fromisoformat(value)
    return value.strftime(fmt)


def fmt_short(value: datetime | str | None) -> str:
    return fmt_dt(value, "%d %b %H:%M")


def fmt_bytes(value: int | None) -> str:
    if not value:
        return "—"
    return f"{value / 2**20:,.0f} MiB" if value < 10 * 2**30 else f"{value / 2**30:,.1f} GiB"


def configure(env: Environment) -> None:
    env.filters["dt"] = fmt_dt
    env.filters["short"] = fmt_short
    env.filters["bytes"] = fmt_bytes
    env.filters["isolate"] = isolate  # sender-chosen text: names, subjects, file names
    env.filters["line"] = clean_line  # the same where no markup may go (the <title>)
    env.globals["level_class"] = LEVEL_CLASS
