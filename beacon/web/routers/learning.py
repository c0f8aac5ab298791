"""``/api/learning``: what Beacon learned from the reader's actions, and forgetting it.

The reader sees the features her model weighs most, each with the feedback behind it, and can
make it forget everything; her mail is then re-scored at once, so no learned factor outlives it.
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from beacon.triage.learning import LearningView, reset, summary
from beacon.triage.learning.refresh import refresh_learned
from beacon.web.deps import DB, ApiUser, CsrfChecked, CurrentSettings
from beacon.web.errors_doc import errors

router = APIRouter(prefix="/api", tags=["learning"], responses=errors(401, 422))


class ResetOut(BaseModel):
    forgotten_events: int = Field(description="feedback events the model had learned from")
    rescored: int = Field(description="scores that changed now that the learned factor is gone")


@router.get("/learning", response_model=LearningView, summary="What Beacon learned from your actions",
            description="The features your model weighs most (a list, a sender, a domain, a conversation, "
                        "a kind of mail), each with its learned weight and the feedback behind it.")
def get_learning(s: DB, user: ApiUser) -> LearningView:
    return summary(s, user.id)


@router.delete("/learning", response_model=ResetOut, dependencies=[CsrfChecked],
               summary="Forget what Beacon learned from your actions",
               responses=errors(403, e403="a wrong or missing CSRF token"))
def delete_learning(s: DB, settings: CurrentSettings, user: ApiUser) -> ResetOut:
    events = reset(s, user.id)
    return ResetOut(forgotten_events=events, rescored=refresh_learned(s, user.id, None, settings))
