"""How emails are grouped into batches, for the job runner and the ad-hoc analyzer alike.

A batch holds at most ``batch_size`` emails and ``max_chars`` characters of analysed text (the
memory cost driver: spaCy's peak grows with the characters of a batch); an email bigger than
that goes alone, and so does an email the caller marks to run alone (a retry that must show
whether it is the one that fails).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TypeVar

from beacon.analysis.text import select_text
from beacon.models import Email
from beacon.settings import Settings

__all__ = ["analysed_chars", "take_batch"]

T = TypeVar("T")


def analysed_chars(email: Email, settings: Settings) -> int:
    """Characters the pipeline will analyse for this email (after capping)."""
    return len(select_text(email, settings.max_text_chars).text)


def take_batch(
    queue: deque[T], *, size: int, max_chars: int, chars: Callable[[T], int],
    alone: Callable[[T], bool] = lambda _: False,
) -> list[T]:
    """Take the next batch from the front of ``queue`` (in order; at least one item when the
    queue is not empty)."""
    batch: list[T] = []
    total = 0
    while queue and len(batch) < size:
        nxt = queue[0]
        solo = alone(nxt)
        if batch and (solo or total + chars(nxt) > max_chars):
            break
        batch.append(queue.popleft())
        total += chars(nxt)
        if solo:
            break
    return batch
