"""Settings changed at run time from the web UI/API, stored in ``app_settings``.

The environment gives the defaults (:class:`~beacon.settings.Settings`); the ``app_settings``
table holds the values a user changed, which win. ``SettingsUpdate`` is the one place that
says which fields may change and what values are acceptable, so the API and the settings form
reject the same bad input with the same messages.

Values are validated when written (a spaCy model by loading it in a child process). When read
back they are re-checked cheaply (bounds, a model package that still looks installed): a
stored value that is no longer acceptable (a model since uninstalled, an option since
withdrawn, a bound since tightened) is skipped with a warning, the first time at start-up,
and the environment's value applies, so one bad row can neither take pages down nor stop
the server from starting.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from beacon.analysis.priority import DEFAULT_WEIGHTS
from beacon.engine.model_probe import load_in_child, pipeline_problem
from beacon.errors import InvalidSettings
from beacon.settings import Settings, parse_size
from beacon.store.schema import AppSetting, UserSetting
from beacon.store.tenancy import PERSONAL_FIELDS

__all__ = [
    "EDITABLE", "ENGINE_WIDE", "PERSONAL", "SettingsUpdate", "apply_update", "current_settings", "personal_settings",
    "public_view", "reset", "stored_problems",
]

log = logging.getLogger(__name__)

MIN_BUDGET = 256 * 1024 * 1024  # below this not even one spaCy worker fits
MAX_WORKERS = 4 * (os.cpu_count() or 1)


def _machine_memory() -> int:
    import psutil

    return int(psutil.virtual_memory().total)


# An address as people type it: one @, a dotted domain, no spaces or angle brackets.
_ADDRESS = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;.]+$")


def _address(v: str) -> str:
    v = v.strip().lower()
    if not _ADDRESS.match(v):
        raise ValueError(f"{v!r} is not an email address")
    return v


Address = Annotated[str, AfterValidator(_address)]
# A priority weight: points, finite and bounded (an infinite weight would make every score NaN).
Weight = Annotated[float, Field(ge=-100, le=100, allow_inf_nan=False)]


class SettingsUpdate(BaseModel):
    """The run-time editable settings; every field optional (a partial update)."""

    model_config = ConfigDict(extra="forbid")

    own_addresses: list[Address] | None = Field(default=None, max_length=50)
    vip_senders: list[Address] | None = Field(default=None, max_length=500)
    priority_high: int | None = Field(default=None, ge=1, le=100)
    priority_medium: int | None = Field(default=None, ge=0, le=99)
    # Overrides of the priority weights (beacon.analysis.priority.DEFAULT_WEIGHTS), by name.
    priority_weights: dict[str, Weight] | None = Field(default=None, max_length=100)
    spacy_model: str | None = Field(default=None, min_length=1, max_length=100)
    # "inprocess" loads spaCy into the calling process; the web server never does that, so
    # it can only come from the environment (for CLI use), never from the web.
    nlp_mode: Literal["oneshot", "pool"] | None = None
    batch_size: int | None = Field(default=None, ge=1, le=500)
    # Analysis worker processes; 0 = one per core. More than a few per core only thrashes.
    workers: int | None = Field(default=None, ge=0, le=MAX_WORKERS)
    memory_budget: int | None = None
    imap_allow_private_hosts: bool | None = None

    @field_validator("own_addresses", "vip_senders", mode="after")
    @classmethod
    def _lower(cls, v: list[str] | None) -> list[str] | None:
        return None if v is None else sorted(set(v))

    @field_validator("priority_weights")
    @classmethod
    def _known_weights(cls, v: dict[str, float] | None) -> dict[str, float] | None:
        unknown = sorted(set(v or {}) - set(DEFAULT_WEIGHTS))
        if unknown:
            raise ValueError(f"unknown priority weight(s) {', '.join(unknown)}; known: {', '.join(sorted(DEFAULT_WEIGHTS))}")
        return v

    @field_validator("nlp_mode", mode="before")
    @classmethod
    def _not_inprocess(cls, v: object) -> object:
        if v == "inprocess":
            raise ValueError(
                "'inprocess' would load spaCy into the web server; it can only be set with "
                "BEACON_NLP_MODE for command-line use. Choose 'pool' or 'oneshot'."
            )
        return v

    @field_validator("spacy_model")
    @classmethod
    def _model_installed(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is None:
            return v
        # Reading: the cheap look at the package. Writing: the pipeline must load, in a child.
        problem = pipeline_problem(v) if info.context == _READ else load_in_child(v)
        if problem is not None:
            raise ValueError(problem)
        return v

    @field_validator("memory_budget", mode="before")
    @classmethod
    def _budget(cls, v: object) -> int | None:
        if v is None:
            return None
        if isinstance(v, float) and not math.isfinite(v):
            raise ValueError("memory budget must be a finite size")
        try:
            size = parse_size(v)
        except (ValueError, OverflowError) as exc:
            raise ValueError("memory budget must be a size such as 1.5G or 800M") from exc
        if size != 0 and size < MIN_BUDGET:
            raise ValueError("memory budget must be 0 (automatic) or at least 256 MiB")
        if size > _machine_memory():
            raise ValueError(f"memory budget must not exceed this machine's memory "
                             f"({_machine_memory() / 2**30:.1f} GiB)")
        return size


EDITABLE = tuple(SettingsUpdate.model_fields)
# Each user's own (stored per user); the rest are engine-wide, changed by an admin.
PERSONAL = tuple(k for k in EDITABLE if k in PERSONAL_FIELDS)
ENGINE_WIDE = tuple(k for k in EDITABLE if k not in PERSONAL_FIELDS)
_READ = "stored"  # validation context when reading stored values back


def load_overrides(s: Session, user_id: int | None = None) -> dict[str, Any]:
    """The stored values: the installation's, and over them ``user_id``'s personal ones."""
    found = {r.key: r.value for r in s.scalars(select(AppSetting).where(AppSetting.key.in_(EDITABLE)))}
    if user_id is not None:
        rows = s.scalars(select(UserSetting).where(UserSetting.user_id == user_id, UserSetting.key.in_(PERSONAL)))
        found.update({r.key: r.value for r in rows})
    return found


def _merge(env: Settings, overrides: dict[str, Any]) -> Settings:
    """The environment's settings with the stored run-time changes applied.

    Each stored value is checked on its own; one that is no longer valid is left out (the
    environment's value applies) and logged, instead of failing every request.
    """
    valid: dict[str, Any] = {}
    for key, value in overrides.items():
        try:
            checked = SettingsUpdate.model_validate({key: value}, context=_READ)
        except ValidationError as exc:
            _warn_invalid(key, repr(value)[:200], exc.errors()[0]["msg"])
            continue
        valid.update(checked.model_dump(exclude_none=True))
    return env.model_copy(update=valid)


@functools.lru_cache(maxsize=64)
def _warn_invalid(key: str, value: str, reason: str) -> None:
    # Cached: the same bad row is read on every request, but is worth one warning per process.
    log.warning("ignoring stored setting %s=%s (%s); using the environment's value", key, value, reason)


def current_settings(s: Session, env: Settings, user_id: int | None = None) -> Settings:
    """The settings in force: the environment's, with the engine-wide changes stored from the
    web, and with ``user_id``'s personal ones (addresses, VIPs, thresholds) when given."""
    return _merge(env, load_overrides(s, user_id))


def personal_settings(s: Session, settings: Settings, user_id: int | None) -> Settings:
    """``settings`` (those in force) with ``user_id``'s personal values on top."""
    if user_id is None:
        return settings
    rows = s.scalars(select(UserSetting).where(UserSetting.user_id == user_id, UserSetting.key.in_(PERSONAL)))
    return _merge(settings, {r.key: r.value for r in rows})


def apply_update(s: Session, env: Settings, update: SettingsUpdate, user_id: int | None = None) -> Settings:
    """Check the merged result, store the changed fields and return the new settings.

    Personal fields are stored for ``user_id`` (for the installation when None, as before any
    user exists); engine-wide fields for the installation. ``update`` was validated in full
    when it was built; this is the write-side check. Who may change what is the caller's
    business (engine-wide fields are an admin's).
    """
    changes = update.model_dump(exclude_unset=True, exclude_none=True)
    new = current_settings(s, env, user_id).model_copy(update=changes)
    if new.priority_high <= new.priority_medium:
        raise InvalidSettings(
            f"HIGH threshold ({new.priority_high}) must be above MEDIUM ({new.priority_medium})"
        )
    for key, value in changes.items():
        if key in PERSONAL and user_id is not None:
            s.merge(UserSetting(user_id=user_id, key=key, value=value))
        else:
            s.merge(AppSetting(key=key, value=value))
    return new


def stored_problems(s: Session, user_id: int | None = None) -> dict[str, str]:
    """Stored values that are not in force, and why (what ``current_settings`` skips)."""
    problems: dict[str, str] = {}
    for key, value in load_overrides(s, user_id).items():
        try:
            SettingsUpdate.model_validate({key: value}, context=_READ)
        except ValidationError as exc:
            problems[key] = str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
    return problems


def reset(s: Session, keys: list[str] | None = None, user_id: int | None = None) -> list[str]:
    """Forget stored values of ``keys`` (all when None): the environment's apply again.
    Personal ones are ``user_id``'s when given."""
    wanted = keys if keys is not None else list(EDITABLE)
    rows: list[Any] = list(s.scalars(select(AppSetting).where(AppSetting.key.in_(wanted))))
    if user_id is not None:
        rows = [r for r in rows if r.key not in PERSONAL]
        rows += s.scalars(select(UserSetting).where(UserSetting.user_id == user_id, UserSetting.key.in_(wanted)))
    for row in rows:
        s.delete(row)
    return sorted({r.key for r in rows})


def public_view(settings: Settings) -> dict[str, Any]:
    """What the API shows: the editable fields plus read-only context."""
    return {
        **{k: getattr(settings, k) for k in EDITABLE},
        "sync_interval": settings.sync_interval,
    }
