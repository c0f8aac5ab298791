"""Email parsing: raw RFC 5322 bytes to a typed :class:`beacon.models.Email`.

``parse_message(raw)`` never raises; anything wrong with the input is recorded in
``email.problems``. Attachment bytes come back beside the Email, in the same order.
"""

from beacon.parse.message import ParsedMessage, parse_message

__all__ = ["ParsedMessage", "parse_message"]
