"""Generate ``demo.mbox`` from ``messages.py``: ``python -m beacon.demo.build [--out PATH]``.

The output is byte-for-byte reproducible (fixed dates, boundaries and mbox ``From `` lines)
so the committed file can be checked against a rebuild. Header folding can change between
Python releases; rebuild and commit the mbox if that ever makes the check fail.
"""

from __future__ import annotations

import argparse
import mailbox
from collections.abc import Sequence
from pathlib import Path

from beacon.demo import DEMO_MBOX
from beacon.demo.messages import MESSAGES
from beacon.demo.render import mbox_entry
from beacon.demo.spec import DemoMessage


def build_mbox(path: Path, messages: Sequence[DemoMessage] = MESSAGES) -> int:
    """Write ``messages`` to a fresh mbox at ``path`` in date order; return how many."""
    index = {m.key: m for m in messages}
    if len(index) != len(messages):
        raise ValueError("demo message keys must be unique")
    path.unlink(missing_ok=True)  # mailbox.mbox appends to an existing file
    box = mailbox.mbox(path, create=True)
    try:
        for msg in sorted(messages, key=lambda m: m.date):
            box.add(mbox_entry(msg, index))
        box.flush()
    finally:
        box.close()
    return len(messages)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEMO_MBOX, help="where to write the mbox")
    args = parser.parse_args(argv)
    count = build_mbox(args.out)
    print(f"wrote {count} messages to {args.out}")


if __name__ == "__main__":
    main()
