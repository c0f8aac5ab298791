"""Every error Beacon raises on purpose, in one tree, each saying what the caller should do.

::

    BeaconError                      base: the message is written for the person who sees it
    ├── NotFound                     404  the named account, email or run does not exist
    ├── Forbidden                    403  this user may not do that (an admin's task)
    ├── Conflict                     409  it cannot be done to the thing as it is now (undone already)
    ├── InvalidInput                 400  the caller's input is refused; fix it and try again
    │   ├── InvalidSettings          422  settings valid one by one that make no sense together
    │   ├── UploadTooLarge           413  an uploaded file over ``upload_max_bytes``
    │   ├── SourceError              400  a path that cannot be imported at all
    │   ├── QueryError               400  a search query that cannot be read (says what and where)
    │   ├── SearchIndexEmpty         503  words searched before beacon reindex filled the index an upgrade emptied
    │   └── UserError                400  a username or password that cannot be accepted
    ├── LoginRefused                      a login is not checked now; retry after ``retry_after`` s
    │   ├── TooManyFailures          429  this address failed too often recently
    │   └── LoginBusy                503  every password-check slot stayed taken
    ├── SecretError                       a stored secret cannot be read (the secret key changed)
    ├── ArtifactError                     a shipped model file is missing or built for other code
    ├── EngineError                       the analysis engine cannot work; no email is at fault
    │   ├── EngineUnavailable        503  no engine to use now (none in this server, or stopping)
    │   ├── AnalysisBusy             409  an analysis run is already in progress
    │   ├── WorkerStartFailed             a worker or the zygote could not start (model, memory)
    │   └── ProtocolError                 a child process sent something that is not the protocol
    ├── NothingToAnalyse                  every email has its analysis: no run was started
    ├── BatchFailed                       one batch could not be analysed; the engine still works
    └── ImapError                         IMAP sync; the message names the account or server
        ├── ImapAuthError                 wrong credentials: never retried (it locks accounts)
        ├── ImapConfigError               a person must change something (TLS, folder, password)
        │   └── FolderError               this folder cannot be synced; the others go on
        ├── ImapNetworkError              the network failed: retried with backoff, then raised
        ├── SyncBusy                      another process is syncing this account right now
        └── SyncCancelled                 the sync was asked to stop (shutdown)

The HTTP statuses on the right are applied in one place, ``beacon.web.app``'s error handler
(any other one is a 500). CLI commands print the message and exit with status 2 for
:class:`InvalidInput` and :class:`NotFound`, 1 for the other errors they expect. Code never
branches on a builtin exception (``KeyError``, ``RuntimeError``) to learn one of these: it
catches the class that says what happened.
"""

from __future__ import annotations

__all__ = [
    "AnalysisBusy", "ArtifactError", "BatchFailed", "BeaconError", "Conflict", "EngineError", "EngineUnavailable",
    "FolderError", "Forbidden", "ImapAuthError", "ImapConfigError", "ImapError", "ImapNetworkError", "InvalidInput",
    "InvalidSettings", "LoginBusy", "LoginRefused", "NotFound", "NothingToAnalyse", "ProtocolError", "QueryError",
    "SearchIndexEmpty",
    "SecretError", "SourceError", "SyncBusy", "SyncCancelled", "TooManyFailures", "UnsubscribeFailed", "UploadTooLarge", "UserError",
    "WorkerStartFailed", "FAILURE_REASONS",
]


class BeaconError(Exception):
    """Base of every error Beacon raises on purpose; its message is safe to show a user."""


# -- the caller asked for something that cannot be done ----------------------------------------
class NotFound(BeaconError):
    """The named thing (account, email, run) does not exist: check the name or id."""


class Forbidden(BeaconError):
    """The logged-in user may not do this (it is an admin's task, or switched off here)."""


class Conflict(BeaconError):
    """It cannot be done to the thing as it is now (an action already undone, or one whose
    change a later action replaced): the message says what to do instead."""


class InvalidInput(BeaconError):
    """The caller's input is refused as it stands; the message says why. Fix it and retry."""


class InvalidSettings(InvalidInput):
    """Settings that are valid one by one but not together (HIGH threshold below MEDIUM)."""


class UploadTooLarge(InvalidInput):
    """An uploaded file is larger than ``upload_max_bytes``: import it by its path instead."""


class SourceError(InvalidInput):
    """The path cannot be imported at all (missing, unreadable, not mail): choose another."""


class QueryError(InvalidInput):
    """A search query that cannot be read (unclosed quote, unknown operator, bad date)."""


class SearchIndexEmpty(InvalidInput):
    """Words cannot be searched until ``beacon reindex`` fills the index an upgrade left empty."""


class UserError(InvalidInput):
    """A username or password that cannot be accepted (too short, taken, unknown user)."""


# -- logins ----------------------------------------------------------------------------------------
class LoginRefused(BeaconError):
    """The login was not checked now; try again after ``retry_after`` seconds."""

    retry_after: int = 5


class TooManyFailures(LoginRefused):
    """This client address failed too often recently; wait ``retry_after`` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed logins; try again in {retry_after} s")
        self.retry_after = retry_after


class LoginBusy(LoginRefused):
    """Every password-check slot stayed taken (a flood of logins): try again shortly."""


# -- stored data and shipped files -----------------------------------------------------------------
class SecretError(BeaconError):
    """A stored secret cannot be read or decrypted (the secret key changed or is damaged):
    restore the key file, or enter the secret (an IMAP password) again."""


class ArtifactError(BeaconError):
    """A shipped model file is missing, of another format, or built for other feature code:
    reinstall Beacon or retrain the model."""


# -- the analysis engine ---------------------------------------------------------------------------
class EngineError(BeaconError):
    """The analysis engine itself cannot work; no email is at fault. A run that meets one ends
    ``failed`` and hands its jobs back, so the next run starts where it stopped."""


class EngineUnavailable(EngineError):
    """There is no engine to use now: this server runs without one, or it is stopping (a
    settings change restarts it). Try again shortly."""


class AnalysisBusy(EngineError):
    """An analysis run is already in progress (one at a time per engine); ``run_id`` names it.
    Wait for it: mail queued meanwhile is analysed by the next run."""

    def __init__(self, run_id: int | None) -> None:
        super().__init__(f"analysis run {run_id} is already in progress")
        self.run_id = run_id


class NothingToAnalyse(BeaconError):
    """Every email already has its analysis at the current pipeline version, so no run was
    started (and none recorded). Not a failure: callers say "nothing to do"."""


class WorkerStartFailed(EngineError):
    """A worker process (or the zygote) did not become ready: the spaCy model is missing or
    broken, or the machine is out of memory. See the child's stderr in the log."""


class ProtocolError(EngineError):
    """A child process sent something that is not the engine's protocol. The supervisor kills
    it and fails its batch as ``crashed``; callers never see this one."""


# Why a batch failed. "error" is a Python exception inside the pipeline (the worker is still
# usable); the others mean the worker process is gone (or retired, for data_limit), and in
# celery mode "node_lost": the `beacon worker` node that had started the batch stopped answering.
FAILURE_REASONS = ("error", "timeout", "hard_limit", "budget", "crashed", "data_limit", "node_lost")


class BatchFailed(BeaconError):
    """A batch could not be analysed; ``reason`` is one of :data:`FAILURE_REASONS`, ``worker``
    the pid that had it. The engine still works. The job runner retries the emails one by one
    and quarantines the one that keeps failing; an ad-hoc caller (``make_analyzer``) should do
    the same or report the emails."""

    def __init__(self, reason: str, detail: str, worker: int | None = None) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.worker = worker


# -- IMAP sync -------------------------------------------------------------------------------------
class ImapError(BeaconError):
    """Base of every IMAP sync error; the message names the account or server. Recorded on the
    account (``last_error``) by the sync itself."""


class ImapAuthError(ImapError):
    """Wrong credentials. Never retried (retrying gets accounts locked): fix the password."""


class ImapConfigError(ImapError):
    """TLS verification, a missing folder, an undecryptable password: retrying cannot help, a
    person must change the account."""


class FolderError(ImapConfigError):
    """This folder cannot be synced (missing, no permission); the other folders go on."""


class ImapNetworkError(ImapError):
    """Timeouts, refused or dropped connections: the sync reconnects with backoff and raises
    this only after ``imap_retries`` attempts without progress. Try again later."""


class SyncBusy(ImapError):
    """Another process or thread is syncing this account right now: skip it this time."""


class SyncCancelled(ImapError):
    """The sync was asked to stop (``beacon serve`` shutting down); what it stored is kept."""


# -- the web UI's one-click unsubscribe ---------------------------------------------------------
class UnsubscribeFailed(BeaconError):
    """The list's unsubscribe server did not take the one-click request (no answer, a TLS
    failure, an error or redirect status): nothing was unsubscribed; try its web page instead."""
