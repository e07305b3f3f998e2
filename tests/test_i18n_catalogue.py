"""Every text shown to people is in the catalogue, and every language's catalogue says all of
it: a template's words outside ``_()``, a literal handed to a user-facing call, a message
missing from a catalogue or left fuzzy, a placeholder lost in translation, a compiled
catalogue older than its source — each fails here."""

from __future__ import annotations

import gettext
import io
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from tpn.i18n import LOCALE_DIR, languages

from untranslated import python_literals, template_words

REPO = Path(__file__).resolve().parents[1]
TEMPLATES = sorted((REPO / "web" / "templates").glob("*.html"))
# The CLI speaks English (its messages are for the people who run tpn); these modules raise
# only errors that no input can cause (tpn's own invariants).
ENGLISH_ONLY = {"tpn/cli.py", "tpn/matching/simplex.py", "tpn/runtime/parallel.py"}
PYTHON = sorted(p for p in [*REPO.glob("tpn/**/*.py"), *REPO.glob("web/**/*.py")]
                if "migrations" not in p.parts
                and p.relative_to(REPO).as_posix() not in ENGLISH_ONLY)
TRANSLATED = [code for code in languages() if code != "en"]


def extracted() -> set:
    """Every message of the code and templates, extracted as ``make messages`` does."""
    with open(REPO / "babel.cfg", encoding="utf-8") as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
    return {message for _file, _line, message, _comments, _context in extract_from_dir(
        str(REPO), method_map, options_map, keywords=keywords)}


def catalogue(code: str):
    with open(LOCALE_DIR / code / "LC_MESSAGES" / "messages.po", "rb") as f:
        return read_po(f)


@pytest.fixture(scope="module")
def messages():
    return extracted()


def test_french_is_one_of_the_languages():
    assert "fr" in TRANSLATED


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: p.name)
def test_a_template_shows_no_words_outside_the_catalogue(template):
    assert template_words(template) == []


@pytest.mark.parametrize("module", PYTHON, ids=lambda p: p.relative_to(REPO).as_posix())
def test_python_hands_people_no_text_that_cannot_be_translated(module):
    assert python_literals(module) == []


def test_the_check_finds_what_it_looks_for(tmp_path):
    """The two checks above, on a template and a module written to fail them."""
    page = tmp_path / "page.html"
    page.write_text('<p title="Bad title">{{ _("Fine") }} Not translated {{ x or "no way" }}'
                    "</p>{% trans %}Fine too{% endtrans %}<code>tpn match</code>")
    assert template_words(page) == ["Bad title", "Not translated", '"no way"']
    module = tmp_path / "module.py"
    module.write_text('flash(f"Saved {n}")\nflash(_("Saved"))\n'
                      'raise InputError(Problem("", None, None, None, "bad", _("fix")))\n')
    assert [line for line, _text in python_literals(module)] == [1, 3]


@pytest.mark.parametrize("code", TRANSLATED)
def test_every_message_is_translated_and_none_is_fuzzy(code, messages):
    cat = catalogue(code)
    missing = sorted(str(m) for m in messages if cat.get(m) is None)
    assert missing == [], f"{len(missing)} message(s) not in {code}: run make messages"
    fuzzy = sorted(str(m.id) for m in cat if m.id and m.fuzzy)
    assert fuzzy == [], f"fuzzy in {code}: review them and remove the fuzzy flag"
    empty = sorted(str(m.id) for m in cat if m.id and not (
        all(m.string) if isinstance(m.string, tuple) else m.string))
    assert empty == [], f"untranslated in {code}"


@pytest.mark.parametrize("code", TRANSLATED)
def test_translations_keep_every_placeholder(code):
    lost = []
    for m in catalogue(code):
        if not m.id:
            continue
        ids = m.id if isinstance(m.id, tuple) else (m.id,)
        strings = m.string if isinstance(m.string, tuple) else (m.string,)
        wanted = set().union(*map(_fields, ids))
        lost += [(m.id, s) for s in strings if _fields(s) != wanted]
    assert lost == []


def _fields(text: str) -> set[str]:
    """The named placeholders of a message, in either style (%(n)s, {n:.0f})."""
    import re
    import string

    if "%(" in text:
        return set(re.findall(r"%\((\w+)\)s", text))
    return {field for _lit, field, _spec, _conv in string.Formatter().parse(
        text.replace("{{", "").replace("}}", "")) if field is not None}


@pytest.mark.parametrize("code", TRANSLATED)
def test_the_compiled_catalogue_is_its_source_compiled(code):
    """The .mo the app reads says what the .po says (make messages compiles it)."""
    fresh = io.BytesIO()
    write_mo(fresh, catalogue(code))
    fresh.seek(0)
    built = gettext.GNUTranslations(fresh)
    with open(LOCALE_DIR / code / "LC_MESSAGES" / "messages.mo", "rb") as f:
        shipped = gettext.GNUTranslations(f)
    assert shipped._catalog == built._catalog
