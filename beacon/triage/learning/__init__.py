"""Per-user learning: an online model of what each reader finds important, trained by what she
does with her mail, added to the explainable priority as a factor of its own with its reason.

- ``observe(s, records)``: the after-actions hook (learn from actions, or unlearn undone ones)
- ``learned_factor(s, user_id, email_row, analysis)``: what the model adds to one email's score
- ``summary`` / ``reset``: what a reader sees of it and how she makes it forget
"""

from beacon.triage.learning.explain import FACTOR_NAME, with_learned
from beacon.triage.learning.store import LearningView, learned_factor, observe, reset, summary

__all__ = ["FACTOR_NAME", "LearningView", "learned_factor", "observe", "reset", "summary", "with_learned"]
