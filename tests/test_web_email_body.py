"""An email's HTML body page: inline (cid:) images are inlined from one query."""

from __future__ import annotations

from email.message import EmailMessage

from sqlalchemy import event, select

from beacon.store.schema import EmailRow
from tests.helpers import Served, wait_job


def _mail_with_inline_images(n: int) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "a@example.com", "b@example.com", "pictures"
    msg.set_content("see the pictures")
    msg.add_alternative("".join(f'<p><img src="cid:img{i}@x"></p>' for i in range(n)), subtype="html")
    html = msg.get_payload()[1]
    for i in range(n):
        html.add_related(bytes([0x89, 0x50, 0x4E, 0x47, i]), maintype="image", subtype="png", cid=f"<img{i}@x>")
    msg.add_attachment(b"x" * 100_000, maintype="application", subtype="octet-stream", filename="big.bin")
    return msg.as_bytes()


def test_inline_images_are_read_in_one_query(bare: Served) -> None:
    c, h = bare.login()
    r = c.post("/api/jobs/import/upload", files={"file": ("pics.eml", _mail_with_inline_images(3))}, headers=h)
    wait_job(c, r.json()["run_id"])
    with bare.db.session() as s:
        email_id = s.scalar(select(EmailRow.id).where(EmailRow.subject == "pictures"))
    statements: list[str] = []
    listen = lambda *a: statements.append(a[2])  # noqa: E731 - (conn, cursor, statement, ...)
    event.listen(bare.db.sql_engine, "before_cursor_execute", listen)
    try:
        body = c.get(f"/emails/{email_id}/body")
    finally:
        event.remove(bare.db.sql_engine, "before_cursor_execute", listen)
    assert body.status_code == 200 and body.text.count('src="data:image/png;base64,') == 3
    assert sum("FROM attachments" in q for q in statements) == 1, statements
