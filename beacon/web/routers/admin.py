"""The admin's pages and API: users (list, add, disable, enable, promote, demote, delete).

Engine-wide settings are on the settings page, shown to admins only; ``services.save_settings``
refuses them from other users. Every route here answers 403 to a user who is not an admin.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Form, HTTPException, Query, Request, status
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel

from beacon.errors import UserError
from beacon.web.auth import create_user, delete_user, list_users, set_admin, set_disabled
from beacon.web.deps import DB, AdminUser, CsrfForm, State, UiAdmin
from beacon.web.errors_doc import errors
from beacon.web.memtrace import AllocationDiff, Grouping
from beacon.web.routers.ui import render

router = APIRouter(tags=["admin"])

Action = Literal["disable", "enable", "promote", "demote", "delete"]


class UserOut(BaseModel):
    id: int
    username: str
    is_admin: bool
    disabled: bool
    created_at: datetime


@router.get("/api/admin/users", response_model=list[UserOut], summary="Every user (admins only)",
            responses={403: {"description": "not an admin"}})
def users_api(s: DB, _admin: AdminUser) -> list[UserOut]:
    return [UserOut.model_validate(u, from_attributes=True) for u in list_users(s)]


@router.get("/api/admin/debug/allocations", response_model=AllocationDiff,
            summary="The web process's allocations against the previous call (admins only; needs debug_tracemalloc)",
            responses=errors(401, 403, 404, 422, e403="not an admin",
                             e404="allocation tracing is off (settings.debug_tracemalloc is 0)"))
def allocations_api(st: State, _admin: AdminUser, limit: Annotated[int, Query(ge=1, le=500)] = 25,
                    group: Grouping = "line") -> AllocationDiff:
    if st.tracer is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "allocation tracing is off (debug_tracemalloc is 0)")
    return st.tracer.diff(limit, group)


@router.get("/admin/users", include_in_schema=False)
def users_page(request: Request, st: State, s: DB, user: UiAdmin) -> Response:
    return render(request, st, "admin_users.html", user=user, users=list_users(s), error=None)


@router.post("/admin/users", include_in_schema=False, dependencies=[CsrfForm])
def add_user(
    request: Request, st: State, s: DB, user: UiAdmin,
    username: Annotated[str, Form(max_length=100)], password: Annotated[str, Form(max_length=1000)],
    admin: Annotated[str, Form()] = "",
) -> Response:
    try:
        create_user(s, username, password, admin=admin == "on")
    except UserError as exc:
        return render(request, st, "admin_users.html", status_code=400, user=user, users=list_users(s), error=str(exc))
    return RedirectResponse("/admin/users", status_code=status.HTTP_303_SEE_OTHER)


_CHANGES = {
    "disable": lambda s, name: set_disabled(s, name, True),
    "enable": lambda s, name: set_disabled(s, name, False),
    "promote": lambda s, name: set_admin(s, name, True),
    "demote": lambda s, name: set_admin(s, name, False),
    "delete": delete_user,
}


@router.post("/admin/users/{username}/{action}", include_in_schema=False, dependencies=[CsrfForm])
def change_user(request: Request, st: State, s: DB, user: UiAdmin, username: str, action: Action) -> Response:
    try:
        _CHANGES[action](s, username)
    except UserError as exc:
        return render(request, st, "admin_users.html", status_code=400, user=user, users=list_users(s), error=str(exc))
    return RedirectResponse("/admin/users", status_code=status.HTTP_303_SEE_OTHER)
