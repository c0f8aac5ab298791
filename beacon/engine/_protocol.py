"""Messages between the supervisor and its workers: JSON frames over a socket pipe.

JSON, not pickle: a worker handles untrusted mail with native code, so what it sends back is
parsed as plain data and never unpickled in the main process. Emails go down as Email JSON,
analyses come back as Analysis JSON. Nothing travels in argv or in temporary files.
"""

from __future__ import annotations

import json
import socket
from multiprocessing.connection import Connection
from typing import Any

from beacon.errors import ProtocolError

Message = dict[str, Any]

# Supervisor -> worker / zygote
OP_INIT = "init"  # {"settings": {...}}: a freshly spawned process learns its settings
OP_BATCH = "batch"  # {"id": n, "emails": [...], "contexts": [...] | null}
OP_STOP = "stop"  # finish and exit
OP_FORK = "fork"  # zygote: fork a worker on the socket passed alongside
# Worker / zygote -> supervisor
OP_READY = "ready"  # {"pid", "rss", "uss", "load_s"}
OP_RESULT = "result"  # {"id", "analyses": [...], "rss", "uss", "peak", "elapsed"}
OP_ERROR = "error"  # {"id", "error"}: the batch raised; the worker is still usable
OP_FORKED = "forked"  # {"pid"}


def send(conn: Connection, msg: Message) -> None:
    conn.send_bytes(json.dumps(msg, separators=(",", ":")).encode())


def recv(conn: Connection) -> Message:
    """Next message; EOFError (or OSError) when the other side is gone, ProtocolError when
    what came is not a message of ours."""
    raw = conn.recv_bytes()
    try:
        msg = json.loads(raw)
    except ValueError:
        msg = None
    if not isinstance(msg, dict) or "op" not in msg:
        raise ProtocolError(f"malformed engine message: {raw[:200]!r}")
    return msg


def socket_pair() -> tuple[Connection, socket.socket]:
    """A connected pair: our end as a Connection, the child's end as an inheritable socket."""
    ours, theirs = socket.socketpair()
    theirs.set_inheritable(True)
    return Connection(ours.detach()), theirs
