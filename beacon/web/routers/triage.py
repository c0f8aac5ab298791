"""The JSON API for acting on mail (``/api``): done, snooze, read, importance, replied, undo.

Like every state-changing route these need the session's CSRF token in ``X-CSRF-Token``. A
user acts only on their own mail: another user's email or action answers 404, as a missing
one does. The body is checked before anything happens (422: an unknown action, a snooze
without a time to wake or with one in the past, ``until`` on another action).
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from datetime import datetime, timezone
from typing import Annotated, Literal

from fastapi import APIRouter
from sqlalchemy.orm import Session
from pydantic import AwareDatetime, BaseModel, Field, model_validator

from beacon.triage.actions import MAX_BULK, apply_action, run_hooks_later, undo_action
from beacon.triage.models import Action, ActionOut, ActionRecord, EmailStateOut
from beacon.web.deps import DB, MAX_ID, ApiUser, CsrfChecked, RowId, State
from beacon.web.errors_doc import errors

__all__ = ["router"]

router = APIRouter(prefix="/api", tags=["actions"], responses=errors(401, 422))

_ERRORS = errors(400, 403, 404, e400="the body is not JSON",
                 e403="missing or wrong CSRF token", e404="no such email among yours")


class ActionIn(BaseModel):
    action: Action = Field(description="what to do: " + ", ".join(a.value for a in Action))
    until: AwareDatetime | None = Field(None, description="snooze only: when the email comes back (ISO 8601 "
                                                          "with its offset, in the future)")
    source: Literal["api", "web"] = Field("api", description="who acts: a script (api) or the web UI (web)")

    @model_validator(mode="after")
    def _until_fits_the_action(self) -> ActionIn:
        if self.action is Action.SNOOZE:
            if self.until is None:
                raise ValueError("snooze needs 'until': when the email comes back")
            if self.until <= datetime.now(timezone.utc):
                raise ValueError("'until' must be in the future")
        elif self.until is not None:
            raise ValueError(f"'until' is only for snooze, not {self.action.value}")
        return self


class BulkActionIn(ActionIn):
    email_ids: list[Annotated[int, Field(ge=1, le=MAX_ID)]] = Field(min_length=1, max_length=MAX_BULK)


class ActedOut(ActionOut):
    state: EmailStateOut = Field(description="the email's state after it")


class ActionsOut(BaseModel):
    actions: list[ActedOut]
    state: EmailStateOut | None = Field(description="the email's state (one email); null for several")


class UndoneOut(BaseModel):
    action: ActedOut
    state: EmailStateOut


def _out(r: ActionRecord, now: datetime) -> ActedOut:
    return ActedOut(**ActionOut.of(r).model_dump(), state=r.state.out(now))


def _answering(st: State) -> AbstractContextManager[None]:
    """While an action is applied and committed, the after-actions thread starts no new unit."""
    return st.deferred.acting() if st.deferred is not None else nullcontext()


def _hooks_after_answer(s: Session, st: State, records: list[ActionRecord]) -> None:
    """Commit the action now and learn/re-score after it, in the app's after-actions thread:
    a click answers fast, and the next one does not wait for the last one's lesson."""
    s.commit()
    if st.deferred is not None:
        st.deferred.submit(records)
    else:
        run_hooks_later(st.db, records)


def _acted(records: list[ActionRecord]) -> ActionsOut:
    now = datetime.now(timezone.utc)
    out = [_out(r, now) for r in records]
    return ActionsOut(actions=out, state=out[0].state if len({r.email_id for r in records}) == 1 else None)


@router.post("/emails/{email_id:int}/actions", response_model=ActionsOut, dependencies=[CsrfChecked],
             summary="Act on one email (done, snooze, read, importance, replied); undoable",
             responses=_ERRORS)
def act(email_id: RowId, body: ActionIn, s: DB, user: ApiUser, st: State) -> ActionsOut:
    with _answering(st):
        records = apply_action(s, user.id, [email_id], body.action, until=body.until, source=body.source,
                               hooks_now=False)
        _hooks_after_answer(s, st, records)
    return _acted(records)


@router.post("/actions", response_model=ActionsOut, dependencies=[CsrfChecked],
             summary="Act on several emails at once (one undoable action each)",
             responses=errors(400, 403, 404, e400="the body is not JSON", e403="missing or wrong CSRF token",
                              e404="one of the emails is not among yours (nothing was changed)"))
def act_bulk(body: BulkActionIn, s: DB, user: ApiUser, st: State) -> ActionsOut:
    with _answering(st):
        records = apply_action(s, user.id, body.email_ids, body.action, until=body.until, source=body.source,
                               hooks_now=False)
        _hooks_after_answer(s, st, records)
    return _acted(records)


@router.post("/actions/{action_id:int}/undo", response_model=UndoneOut, dependencies=[CsrfChecked],
             summary="Undo an action: the fields it changed go back to what they were",
             responses=errors(403, 404, 409, e403="missing or wrong CSRF token", e404="no such action among yours",
                              e409="already undone, or a later action changed the email since (undo that first)"))
def undo(action_id: RowId, s: DB, user: ApiUser, st: State) -> UndoneOut:
    with _answering(st):
        r = undo_action(s, user.id, action_id, hooks_now=False)
        _hooks_after_answer(s, st, [r])
    out = _out(r, datetime.now(timezone.utc))
    return UndoneOut(action=out, state=out.state)
