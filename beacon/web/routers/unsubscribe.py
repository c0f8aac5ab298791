"""``POST /api/emails/{id}/unsubscribe``: one-click unsubscribe (RFC 8058), sent by the server.

The page asks the reader to confirm first; this route only acts for mail that offers one-click
unsubscribe over https (see :mod:`beacon.web.unsubscribe` for the rules on where it may send).
"""

from __future__ import annotations

from pydantic import BaseModel

from fastapi import APIRouter

from beacon.errors import InvalidInput
from beacon.web import services
from beacon.web.deps import DB, ApiUser, CsrfChecked, CurrentSettings, RowId
from beacon.web.errors_doc import errors
from beacon.web.unsubscribe import one_click, unsubscribe

router = APIRouter(prefix="/api", tags=["api"], responses=errors(401, 422))


class UnsubscribeOut(BaseModel):
    unsubscribed: bool
    host: str  # the list's server that took the request
    status: int  # its HTTP answer


@router.post(
    "/emails/{email_id:int}/unsubscribe", response_model=UnsubscribeOut, dependencies=[CsrfChecked],
    summary="Unsubscribe from the list this email came from (RFC 8058 one-click; the server sends the POST)",
    responses=errors(400, 403, 404, 502,
                     e400="this email offers no one-click unsubscribe over https, or its server is on a "
                          "private network or cannot be resolved",
                     e404="no such email among yours"),
)
def unsubscribe_email(email_id: RowId, s: DB, settings: CurrentSettings, user: ApiUser) -> UnsubscribeOut:
    view = services.load_email_view(s, settings, email_id, user)
    target = one_click(view.email.list_headers)
    if target is None:
        raise InvalidInput("this email offers no one-click unsubscribe (List-Unsubscribe-Post with an https URL)")
    done = unsubscribe(target, allow_private_hosts=settings.imap_allow_private_hosts)
    return UnsubscribeOut(unsubscribed=True, host=done.host, status=done.status)
