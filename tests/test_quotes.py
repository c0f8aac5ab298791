"""Quote and signature stripping on talon's fixtures (a dozen mail clients' replies, plain and
HTML) and on attributions in the languages real mail comes in."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from beacon.parse import parse_message
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


@pytest.mark.parametrize(("text", "new"), [
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
])
def test_attributions_in_many_languages(text: str, new: str) -> None:
    assert split_reply(text).new_text == new


def test_own_text_ending_in_a_colon_is_kept() -> None:
    text = "Here are the numbers for Q3:\n\n- revenue up\n- costs down\n\nAnn"
    assert split_reply(text).new_text.startswith("Here are the numbers for Q3:\n\n- revenue up")
