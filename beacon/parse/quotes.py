"""Split a plain-text body into the sender's own new text, quoted history and signature.

mail-parser-reply supplies the multilingual patterns (reply headers such as
"On ... wrote:", "-----Original Message-----", Outlook "From:/Sent:" blocks; sign-off
and "Sent from my ..." phrases). Its own splitting is not used as is, because on real
mail it (a) treats any line starting with a sign-off word ("Thanks, that works. Can
you...") as the start of a signature, and (b) drops interleaved answers below an
"On ... wrote:" line. The rules here:

- quoted lines (``>``) are history wherever they are; an attribution line ("... wrote:"
  in any of the languages below, or any line ending in ":" that names a date or an
  address, as mail.ru and Yandex write it) directly followed by quoted lines goes with
  them, including its first half when a client wrapped it over two lines; unquoted text
  between quotes stays;
- an unquoted reply header starts history and everything after it is dropped: Outlook's
  "Original Message", a From:/Sent:/To: block with its labels in any of twenty languages
  (От:/Отправлено:, Von:/Gesendet:, De:/Envoyé: ...), an attribution that names a date
  or an address but is not followed by quotes (Yahoo's "--- On ... wrote:", even glued to
  the end of the reply's last line); a rule line (``* * *``, ``____``) right before it goes too;
- the signature starts at the RFC 3676 ``-- `` line, a "Sent from my ..." line, or a
  short sign-off line ("Best regards,", "Thanks") in the last lines of the own text.
Lines come back stripped of surrounding whitespace (as the library normalises them).
"""

from __future__ import annotations

import hashlib
import re
from bisect import bisect_right
from dataclasses import dataclass
from itertools import accumulate

from mailparser_reply.constants import MAIL_LANGUAGES
from mailparser_reply.parser import EmailMessage

# The library's "david" entry is one vendor's header format, not a language.
_LANGUAGES = tuple(lang for lang in MAIL_LANGUAGES if lang != "david")
_HEADER_PATTERN = EmailMessage(text="", languages=list(_LANGUAGES)).HEADER_REGEX
# Every reply header pattern has a line ending in a colon, opening with a label ("Von:"),
# or a ----- / ____ separator, on its line or the next one; only such lines are tried.
_HEADER_HINT = re.compile(r"[\W_]*\w+(?: \w+){0,2}\s*[:：]")  # a label opening the line
# What every line that is not plain own text holds: a quote mark, a colon, a rule. (Spelled as
# literals, the engine scans for their first characters in C.)
_NOTABLE = re.compile(r":|：|>|-----|__________")
# How each of the library's reply-header patterns can open (read off its patterns: an
# attribution's first word or a date's digit, a label such as "From:" after "* ", a ----- rule,
# a quote mark, an empty line). The whole pattern costs some 13 µs a line; it is tried only
# where one of these stands, and always when the library's patterns are not the ones these
# were read from.
_HEADER_PATTERN_SHA256 = "486eea5c58a3ddbc7c36b717d995b43c8f9ab9e85e283c17937bb45c9da3fad3"
_HEADER_OPENERS = re.compile(
    r"[>\n]|-{5}|\d|(?:On|Am|Dne|El|Le|Il|Op|Dnia)\s"
    r"|Den|[Mm]an|[Tt]ir|[Oo]ns|[Tt]or|[Ff]re|[Ll]ør|[Ss]øn|[Mm]ån|[Tt]is|[Ll]ör|[Ss]ön"
    r"|[* ]*(?:%s)" % "|".join(re.findall(r"\[\* \]\*\(\?:(.*?)\):", _HEADER_PATTERN.pattern)),
    _HEADER_PATTERN.flags,
) if hashlib.sha256(_HEADER_PATTERN.pattern.encode()).hexdigest() == _HEADER_PATTERN_SHA256 else None
_HEADER_WINDOW = 8  # lines: the longest header block the patterns match
_LIMIT = 50_000  # characters: own text sits at the top; long tails are history or junk
_QUOTED = re.compile(r"^\s*>")
_ATTRIBUTION = re.compile(
    r"(wrote|writes|said|schrieb|a écrit|escribió|escribio|ha scritto|scrisse|escreveu|schreef|"
    r"het volgende geschreven|geschreven|skrev|napisał|napisała|napsal|napsala|napisao|napisala|"
    r"kirjoitti|yazdı|írta|έγραψε|a scris|написал|написала|написал\(а\)|пишет|писал|написав|"
    r"写道|寫道|書きました|のメッセージ|작성)\s*[:：]\s*$",
    re.IGNORECASE,
)
# "reply--- On Wed, Apr 4, 2012 at 3:59 PM, me@domain.com wrote:" (Yahoo, glued to the reply)
_GLUED_YAHOO = re.compile(r"^(.*?[^\s-])\s*-{2,}\s*On\s.*\b(?:wrote|writes)\s*:\s*$", re.IGNORECASE)
# Any line that ends in ":" and names a date or an address can attribute the quote below it.
_COLON_END = re.compile(r"[:：]\s*$")
_NAMES_WHEN_OR_WHO = re.compile(r"\d|@")
_RULE = re.compile(r"^(?:[*_=\-]\s*){3,}$")
_FROM_LABELS = ("From|Von|De|Da|Van|Från|Fra|Od|Lähettäjä|Kimden|От|Від|Από|Feladó|Frá|Afsender|"
                "Avsändare|Emissor|Expéditeur|发件人|寄件者|差出人|보낸 사람")
_OTHER_LABELS = ("Sent|Date|To|Subject|Cc|Gesendet|Datum|An|Betreff|Envoyé|À|A|Objet|Enviado|Enviada|Fecha|"
                 "Para|Asunto|Assunto|Inviato|Data|Oggetto|Verzonden|Aan|Onderwerp|Skickat|Till|Ämne|Sendt|"
                 "Til|Emne|Wysłano|Do|Temat|Odesláno|Komu|Předmět|Lähetetty|Vastaanottaja|Aihe|Gönderildi|"
                 "Kime|Konu|Отправлено|Дата|Кому|Тема|Копия|Надіслано|Σταλθηκε|Προς|Θέμα|发送时间|收件人|主题|"
                 "送信日時|宛先|件名|보낸 날짜|받는 사람|제목")
_FROM_LABEL = re.compile(r"^[\W_]*(?:%s)\s*[:：]" % _FROM_LABELS, re.IGNORECASE)
_ANY_LABEL = re.compile(r"^[\W_]*(?:%s|%s)\s*[:：]" % (_FROM_LABELS, _OTHER_LABELS), re.IGNORECASE)
# Cheap first test: the line opens like a label ("Word:" or "Two words:") before any regex.
_FROM_OR_LABEL_START = re.compile(r"^[\W_]*\w+(?: \w+)?\s*[:：]")
_LABEL_WINDOW = 6  # lines: a From:/Sent:/To:/Subject: block is this long at most
_WRAPPED_MAX = 300  # characters: an attribution wrapped over two lines is no longer
# How attributions open: "On Mon...", "Am 1. Jan...", "Le lundi...", "El lun...", "W dniu..."
_OPENER = re.compile(r"^(?:-+\s*)?(?:On|Am|Le|El|Il|Em|Op|Den|På|W dniu|Dne|В|У)\s", re.IGNORECASE)
_BLANK_RUNS = re.compile(r"\n\n\n+")  # (not \n{3,}: a literal start is scanned for in C)
_SIGN_OFF_MAX = 40  # characters: a sign-off line is short ("Best regards, Ann")
_SIGN_OFF_TAIL = 12  # a signature block is at most this many non-empty lines
_EXTRA_SIGN_OFFS = ["cheers", "regards", "thanks", "thank you", "best wishes", "sincerely",
                    "yours", "ciao", "greetings", "bye", "cordialement", "saludos", "grüße",
                    "gruß", "groeten", "pozdrawiam", "hälsningar"]


def _phrases(key: str) -> list[str]:
    found: list[str] = []
    for spec in MAIL_LANGUAGES.values():
        value = spec.get(key)
        if isinstance(value, str):
            found.extend(value.split("|"))
        elif isinstance(value, list):
            found.extend(value)
    return found


_SENT_FROM = r"(?:%s)\b" % "|".join(p for p in _phrases("sent_from") if p)
# A line that opens a signature: the RFC 3676 "-- " delimiter or "Sent from my ...", searched
# for after a line break (a literal: scanned for in C) over "\n" + the joined lines, which
# hold no line break of their own, so ``$`` and ``.`` stay within one line.
_SIGNATURE_OPENS = re.compile(r"\n(?:--\s*$|%s)" % _SENT_FROM, re.IGNORECASE | re.MULTILINE)
_SIGN_OFF = re.compile(
    r"^(?:%s)\b[\s,.!]*[\w .,'-]*$"
    % "|".join(sorted({p.rstrip(",").strip() for p in _phrases("signatures") + _EXTRA_SIGN_OFFS if p},
                      key=len, reverse=True)),
    re.IGNORECASE,
)


@dataclass
class ReplySplit:
    new_text: str
    signature: str


def _normalised_lines(text: str) -> list[str]:
    # Same normalisation the library applies before matching its header patterns.
    return [line.strip() for line in text[:_LIMIT].replace("\r\n", "\n").split("\n")]


class _HeaderStarts:
    """Does one of the library's reply-header patterns start at a line? Asked lazily, per line.

    Each pattern match costs some 13 µs, and most lines never need it: :func:`_own_lines`
    asks only about notable, unquoted, non-empty lines, and stops at the first history start.
    """

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.text = "\n".join(lines)
        self.offsets = [0, *accumulate(len(line) + 1 for line in lines)]
        self.known: dict[int, bool] = {}

    def _hint(self, index: int) -> bool:
        if index >= len(self.lines):
            return False
        line = self.lines[index]
        return (line.endswith((":", "：")) or "-----" in line or "__________" in line
                or ((":" in line or "：" in line) and bool(_HEADER_HINT.match(line))))

    def notable(self) -> list[int]:
        """Lines that may quote, attribute, label or start a reply header, and the line
        before each (a header may start there): any other line is the sender's own text.
        Found by one C-speed search per notable line rather than Python work on every line."""
        found: set[int] = set()
        pos = 0
        while (hit := _NOTABLE.search(self.text, pos)) is not None:
            index = bisect_right(self.offsets, hit.start()) - 1
            found.update((index - 1, index))
            pos = self.offsets[index + 1]
        found.discard(-1)
        return sorted(found)

    def __contains__(self, index: int) -> bool:
        found = self.known.get(index)
        if found is None:
            found = False
            start = self.offsets[index]
            if (self._hint(index) or self._hint(index + 1)) and (
                    _HEADER_OPENERS is None or _HEADER_OPENERS.match(self.text, start)):
                end = min(self.offsets[min(index + _HEADER_WINDOW, len(self.lines))], len(self.text))
                found = bool(_HEADER_PATTERN.match(self.text, start, end))
            self.known[index] = found
        return found


def _next_content(lines: list[str], index: int) -> str:
    for line in lines[index + 1:]:
        if line:
            return line
    return ""


def _has_label_colon(line: str) -> bool:
    head = line[:40]
    return ":" in head or "：" in head


def _label_block_starts(lines: list[str], index: int) -> bool:
    """A From:/Sent:/To:/Subject: block (labels in any language) starts at ``index``."""
    if not _has_label_colon(lines[index]) or not _FROM_OR_LABEL_START.match(lines[index]):
        return False
    labels, has_from = 0, False
    for line in lines[index:index + _LABEL_WINDOW]:
        if not line:
            break
        # (Every label ends in a colon: a line without one is not tried.)
        if (":" in line or "：" in line) and _ANY_LABEL.match(line):
            labels += 1
            has_from = has_from or bool(_FROM_LABEL.match(line))
    return has_from and (labels >= 3 or (labels >= 2 and bool(_FROM_LABEL.match(lines[index]))))


def _attribution(line: str) -> tuple[bool, bool]:
    """(may attribute a quote below, is an attribution even without one)."""
    if not line.endswith((":", "：")):  # lines come stripped; every attribution ends so
        return False, False
    if _ATTRIBUTION.search(line[-60:]):
        return True, bool(_NAMES_WHEN_OR_WHO.search(line)) or line.lower().lstrip("- ").startswith("on ")
    return bool(_COLON_END.search(line) and _NAMES_WHEN_OR_WHO.search(line)), False


def _drop_wrapped_start(own: list[str], lines: list[str], index: int) -> None:
    """Drop the first half of an attribution a client wrapped over two lines."""
    if index < 1 or not own or own[-1] != lines[index - 1] or not own[-1]:
        return
    first = own[-1]
    starts_paragraph = index < 2 or not lines[index - 2]
    looks_cut = first.endswith(("<", ",", '"', "(")) or first[:1].isdigit() or bool(_OPENER.match(first))
    if (len(first) + len(lines[index]) <= _WRAPPED_MAX and _NAMES_WHEN_OR_WHO.search(first)
            and not first.endswith((".", "!", "?")) and (starts_paragraph or looks_cut)):
        own.pop()


def _history_starts(own: list[str]) -> list[str]:
    """Own text ends here: drop a rule line (``* * *``) and blanks left before history."""
    while own and (not own[-1] or _RULE.match(own[-1])):
        own.pop()
    return own


def _own_lines(lines: list[str]) -> list[str]:
    headers = _HeaderStarts(lines)
    own: list[str] = []
    done = 0  # lines before this one are handled
    for index in headers.notable():
        own.extend(lines[done:index])  # plain lines: nothing there can start history
        done = index + 1
        line = lines[index]
        if line.startswith(">"):  # lines come stripped: _QUOTED, cheaper
            continue
        if not line or (not line.endswith((":", "：")) and not _has_label_colon(line) and index not in headers):
            own.append(line)  # the common case: nothing here can start history
            continue
        glued = _GLUED_YAHOO.match(line) if "--" in line else None  # its rule needs "--"
        if glued:
            own.append(glued.group(1))
            return _history_starts(own)
        may_attribute, strong = _attribution(line)
        if (may_attribute or index in headers) and _QUOTED.match(_next_content(lines, index)):
            _drop_wrapped_start(own, lines, index)
            continue  # attribution of the quote below
        if index in headers or strong or _label_block_starts(lines, index):
            return _history_starts(own)  # unquoted history (Outlook, Yahoo): nothing after is new
        own.append(line)
    own.extend(lines[done:])
    return own


def _signature_start(lines: list[str]) -> int | None:
    """Index of the first signature line (delimiter, "Sent from", or a closing sign-off)."""
    found: list[int] = []
    text = "\n" + "\n".join(lines)
    opened = _SIGNATURE_OPENS.search(text)  # one search over the text, not two regexes a line
    if opened is not None:
        found.append(text.count("\n", 0, opened.start()))  # the line break before line i is the i-th
    content = [i for i, line in enumerate(lines) if line]
    for index in content[-_SIGN_OFF_TAIL:]:
        if index > content[0] and len(lines[index]) <= _SIGN_OFF_MAX and _SIGN_OFF.match(lines[index]):
            found.append(index)
            break
    return min(found) if found else None


def _join(lines: list[str]) -> str:
    return _BLANK_RUNS.sub("\n\n", "\n".join(lines)).strip()


def split_reply(text: str) -> ReplySplit:
    """Own new text and signature of a plain-text body; never raises."""
    try:
        own = _own_lines(_normalised_lines(text))
        cut = _signature_start(own)
    except Exception:  # noqa: BLE001 - regex engines on hostile text; keep the whole text
        return ReplySplit(new_text=text.strip(), signature="")
    if cut is None:
        return ReplySplit(new_text=_join(own), signature="")
    return ReplySplit(new_text=_join(own[:cut]), signature=_join(own[cut:]))
