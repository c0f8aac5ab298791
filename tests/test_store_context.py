"""The reader's history with a sender (``beacon.store.context.sent_to``): whole addresses and
domains among the recipients of the reader's own mail, LIKE's wildcards taken literally."""

from __future__ import annotations

from sqlalchemy import func, literal, select

from beacon.store.context import sent_to
from beacon.store.db import Database
from beacon.store.schema import EmailRow
from tests.helpers import store_messages

ME = "me@example.com"
SENT = ["bob@x.com", "jimbob@x.com", "a_b@x.com", "50%off@deals.com", "x/y@slash.org", "carol@x.com, dan@y.org"]
NEEDLES = ["bob@x.com", "jimbob@x.com", "a_b@x.com", "axb@x.com", "50%off@deals.com", "5@deals.com",
           "x/y@slash.org", "@x.com", "@y.org", "@deals.com", "@slash.org", "@s_ash.org", "dan@y.org", "nobody@z.com"]


def test_sent_to_counts_whole_addresses_and_domains_as_contains_with_autoescape_did(any_db: Database) -> None:
    raws = [f"From: Me <{ME}>\nTo: {to}\nSubject: s{i}\nMessage-ID: <s{i}@x>\n\nHi.\n".encode()
            for i, to in enumerate(SENT)]
    raws.append(b"From: Bob <bob@x.com>\nTo: me@example.com\nSubject: in\nMessage-ID: <in@x>\n\nHi.\n")
    ids = store_messages(any_db, raws)
    with any_db.session() as s:
        account = s.get(EmailRow, ids[0]).account_id  # type: ignore[union-attr]
        for needle in NEEDLES:
            pattern = f" {needle} " if not needle.startswith("@") else f"{needle} "
            before = s.scalar(select(func.count(EmailRow.id)).where(  # the statement it replaced
                EmailRow.account_id == account, EmailRow.from_addr.in_([ME]),
                (literal(" ") + EmailRow.recipients + literal(" ")).contains(pattern, autoescape=True)))
            assert sent_to(s, account, [ME], needle) == before, needle
        assert sent_to(s, account, [ME], "bob@x.com") == 1  # not jimbob's
        assert sent_to(s, account, [ME], "axb@x.com") == 0  # "_" is no wildcard
        assert sent_to(s, account, [ME], "@x.com") == 4
        assert sent_to(s, account, [], "bob@x.com") == sent_to(s, account, [ME], "") == 0
