"""Logged-out session ids, kept until their cookies would have expired anyway.

Signed cookies cannot be taken back, so logout records the session id here and every request
checks it. Stored as one ``app_settings`` row (no schema change): a map from a hash of the
session id to its expiry time, pruned on each write. It only grows with logouts within one
session lifetime, which stays small for a self-hosted, few-user service.
"""

from __future__ import annotations

import hashlib
import time

from sqlalchemy.orm import Session

from beacon.store.schema import AppSetting

__all__ = ["KEY", "is_revoked", "revoke"]

KEY = "web.revoked_sessions"  # not an editable setting: app_settings.EDITABLE never lists it


def _digest(sid: str) -> str:
    # The sid is only a lookup key here; storing its hash keeps live-looking ids out of the table.
    return hashlib.sha256(sid.encode()).hexdigest()[:32]


def revoke(s: Session, sid: str, max_age: int) -> None:
    now = time.time()
    row = s.get(AppSetting, KEY, with_for_update=True)
    current = row.value if row is not None and isinstance(row.value, dict) else {}
    kept = {k: v for k, v in current.items() if isinstance(v, (int, float)) and v > now}
    kept[_digest(sid)] = now + max_age
    if row is None:
        s.add(AppSetting(key=KEY, value=kept))
    else:
        row.value = kept


def is_revoked(s: Session, sid: str) -> bool:
    row = s.get(AppSetting, KEY)
    return row is not None and isinstance(row.value, dict) and _digest(sid) in row.value
