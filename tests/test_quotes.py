"""Quote and signature stripping on talon's fixtures (a dozen mail clients' replies, plain and
HTML) and on attributions in the languages real mail comes in."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from beacon.parse import parse_message, quotes
from beacon.parse.html_text import html_to_text
from beacon.parse.quotes import split_reply
from testkit.corpora import talon_fixtures_dir


def norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def replies() -> list[Path]:
    return sorted((talon_fixtures_dir() / "standard_replies").glob("*.eml"))


@pytest.mark.parametrize("path", replies(), ids=lambda p: p.name)
def test_talon_standard_replies(path: Path) -> None:
    # talon's expected text keeps the signature (it strips quotes only): new text + signature.
    expected_file = path.with_name(path.stem + "_reply_text")
    expected = expected_file.read_text() if expected_file.exists() else "Hello"
    email = parse_message(path.read_bytes()).email
    assert norm(f"{email.new_text}\n\n{email.signature}") == norm(expected)
    assert norm(email.new_text) == "Hello"


def test_talon_standard_replies_are_all_there() -> None:
    assert len(replies()) == 12


@pytest.mark.parametrize("name", ["gmail", "hotmail", "mail_ru", "ms_outlook_2003", "ms_outlook_2007",
                                  "ms_outlook_2010", "thunderbird", "windows_mail", "yandex_ru"])
def test_talon_html_replies_signature_keeps_out_of_history(name: str) -> None:
    html = (talon_fixtures_dir() / "html_replies" / f"{name}.html").read_text(encoding="utf-8")
    split = split_reply(html_to_text(html))
    assert split.new_text == "Hi. I am fine."
    assert norm(split.signature) == "Thanks, Alex"


ATTRIBUTIONS = [
    # Russian, wrapped by the client over two lines
    ('Понял, спасибо!\n02.04.2012 14:20 пользователь "Иван" <\nivan@example.ru> написал:\n> Ты придёшь?',
     "Понял, спасибо!"),
    # Yahoo: unquoted history after "--- On ... wrote:", also glued to the reply's last line
    ("Sure thing.\n\n--- On Wed, Apr 4, 2012 at 3:59 PM, me@example.com wrote:\n\nOld text here.",
     "Sure thing."),
    ("Sure thing.--- On Wed, Apr 4, 2012 at 3:59 PM, me@example.com wrote:\n\nOld text here.", "Sure thing."),
    ("Ja, passt.\n\nAm 12.03.2024 um 10:15 schrieb Anna Schmidt <anna@example.de>:\n> Passt Dienstag?", "Ja, passt."),
    ("D'accord.\n\nLe 12 mars 2024 à 10:15, Jean Dupont <jean@example.fr> a écrit :\n> Mardi ?", "D'accord."),
    ("Perfecto.\n\nEl 12 mar 2024, a las 10:15, Ana <ana@example.es> escribió:\n> ¿El martes?", "Perfecto."),
    ("Prima.\n\nOp 12-03-2024 10:15 schreef Jan <jan@example.nl>:\n> Dinsdag?", "Prima."),
    ("Pasuje.\n\nW dniu 12.03.2024 o 10:15, Jan Kowalski <jan@example.pl> napisał:\n> Wtorek?", "Pasuje."),
    ("Fint.\n\nDen 12 mars 2024 10:15 skrev Sven <sven@example.se>:\n> Tisdag?", "Fint."),
    ("Va bene.\n\nIl giorno 12 mar 2024, alle ore 10:15, Luca <luca@example.it> ha scritto:\n> Martedì?", "Va bene."),
    # Outlook header blocks in other languages, unquoted
    ("Erledigt.\n\nVon: Anna Schmidt\nGesendet: Dienstag, 12. März 2024 10:15\nAn: Team\nBetreff: Bericht\n\nBitte prüfen.",
     "Erledigt."),
    ("Готово.\n\nОт: Иван Петров\nОтправлено: 12 марта 2024 г. 10:15\nКому: Команда\nТема: Отчёт\n\nПроверьте.",
     "Готово."),
    # mail.ru / Yandex: no "wrote", just a date and an address before the quote
    ("Ок.\n\n26.06.2014, 14:41, \"Alexander\" <abc@example.com>:\n> Привет!", "Ок."),
]


@pytest.mark.parametrize(("text", "new"), ATTRIBUTIONS)
def test_attributions_in_many_languages(text: str, new: str) -> None:
    assert split_reply(text).new_text == new


def test_own_text_ending_in_a_colon_is_kept() -> None:
    text = "Here are the numbers for Q3:\n\n- revenue up\n- costs down\n\nAnn"
    assert split_reply(text).new_text.startswith("Here are the numbers for Q3:\n\n- revenue up")


# Reply headers of every kind the library's patterns know, unquoted and quoted, some wrapped.
HEADERS = [
    "On Mon, 1 Jan 2024 at 10:00, Ann <ann@example.com> wrote:",
    "On Mon, 1 Jan 2024 at 10:00, Ann\n<ann@example.com> wrote:",
    "Am 01.01.2024 um 10:00 schrieb Anna <anna@example.de>:",
    "Dne 1. 1. 2024 10:00 napsal(a):",
    "Den 1 jan 2024 kl. 10:00 skrev Sven <sven@example.se>:",
    "man. 1. jan. 2024 kl. 10:00 skrev Søren <s@example.dk>:",
    "El 1 ene 2024, Ana  escribió:",
    "Le 1 janv. 2024 à 10:00, Jean <jean@example.fr> a écrit :",
    "Il giorno 1 gen 2024, alle ore 10:00, Luca ha scritto:",
    "2024年1月1日(月) 10:00 Taro <taro@example.jp>:",
    "2024년 1월 1일 (월) 오전 10:00, Kim 님이 작성하였습니다:",
    "Op 1 jan. 2024 om 10:00 schreef Jan <jan@example.nl>:",
    "Dnia 1.01.2024 o 10:00 Jan napisał(a):",
    "2024年1月1日 10:00 王 写道：",
    "From: Ann\nSent: Monday, 1 January 2024 10:00\nTo: Bob\nSubject: Plan",
    "* From: * Ann\n* Sent: * Monday\n* To: * Bob",
    "Von: Anna\nGesendet: Montag\nAn: Team\nBetreff: Bericht",
    "Fra: Søren\nSendt: mandag\nTil: Team\nEmne: Plan",
    "-----Oprindelig meddelelse-----\nFra: Søren\nSendt: mandag",
    "De: Ana\nEnviado: lunes\nPara: Equipo\nAsunto: Plan",
    "De : Jean\nEnvoyé : lundi\nÀ : Équipe\nObjet : Plan",
    "Da: Luca\nInviato: lunedì\nA: Team\nOggetto: Piano",
    "보낸 사람: Kim\n받는 사람: Lee\n제목: 계획",
    "Van: Jan\nVerzonden: maandag\nAan: Team\nOnderwerp: Plan",
    "Od: Jan\nWysłano: poniedziałek\nDo: Zespół\nTemat: Plan",
    "Från: Sven\nSkickat: måndag\nTill: Team\nÄmne: Plan",
    "发件人: 王\n发送时间: 2024年1月1日\n收件人: 李\n主题: 计划",
    "-----Original Message-----",
    "----- Original Message -----",
]


def _texts() -> list[str]:
    texts = [text for text, _ in ATTRIBUTIONS]
    texts += [f"Fine by me.\n\n{header}\n\nOld text." for header in HEADERS]
    texts += [f"Fine by me.\n\n{header}\n> Old text." for header in HEADERS]
    texts += [f"Fine by me.\n{header}\n> Old text.\nMy answer.\n\n-- \nAnn" for header in HEADERS]
    texts += [split_reply.__doc__ or "", "Thanks, that works. Can you send it?\nhttp://example.com/x:y\nBest regards,\nAnn"]
    texts += [html_to_text((talon_fixtures_dir() / "html_replies" / f"{name}.html").read_text(encoding="utf-8"))
              for name in ("gmail", "hotmail", "mail_ru", "ms_outlook_2003", "thunderbird", "yandex_ru")]
    texts += [parse_message(path.read_bytes()).email.text for path in replies()]
    return texts


def test_reply_header_shortcuts_change_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """The lines skipped as plain text and the openers tried before the library's patterns give
    the same split as trying every pattern on every line."""
    assert quotes._HEADER_OPENERS is not None  # written for the installed mail-parser-reply
    texts = _texts()
    fast = [split_reply(text) for text in texts]
    starts = [sorted(i for i in range(len(text.split("\n"))) if i in quotes._HeaderStarts(text.split("\n")))
              for text in texts]
    monkeypatch.setattr(quotes, "_HEADER_OPENERS", None)
    monkeypatch.setattr(quotes._HeaderStarts, "notable", lambda self: list(range(len(self.lines))))
    assert [split_reply(text) for text in texts] == fast
    assert [sorted(i for i in range(len(text.split("\n"))) if i in quotes._HeaderStarts(text.split("\n")))
            for text in texts] == starts
    assert sum(map(len, starts)) >= len(HEADERS)  # the patterns do find the headers


def test_signature_opens_at_its_delimiter_or_sent_from() -> None:
    assert split_reply("See you.\n--\nAnn\nhttp://ann.example").signature == "--\nAnn\nhttp://ann.example"
    assert split_reply("See you.\n--x\nAnn").signature == ""
    assert split_reply("See you.\n\nSent from my phone\nAnn").signature == "Sent from my phone\nAnn"
    assert split_reply("See you. Sent from my phone").signature == ""


def test_html_blockquotes_become_quoted_lines_up_to_the_limit() -> None:
    many = "<p>Yes.</p>" + "".join(f"<blockquote>q{i}<blockquote>in{i}</blockquote></blockquote>" for i in range(100))
    lines = html_to_text(many).split("\n")
    assert lines[0] == "Yes."
    assert "> q0" in lines and "> > in0" in lines and "> q99" in lines and "> > in99" in lines
    assert not [line for line in lines[1:] if line and not line.startswith(">")]
    too_many = "".join(f"<blockquote>q{i}</blockquote>" for i in range(201))  # hostile: left as text
    assert not [line for line in html_to_text(too_many).split("\n") if line.startswith(">")]


def test_html_text_lines_lose_gaps_trailing_blanks_and_repeated_urls() -> None:
    html = ("<pre>a   b\t\tc   \n  indented</pre><p><a href='mailto:x@y.org'>x@y.org</a> and "
            "<a href='https://z.org/a'>docs</a></p>")
    assert html_to_text(html) == "a b c\n  indented\n\nx@y.org and docs (https://z.org/a)"
