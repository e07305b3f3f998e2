"""Texts for people, in their language.

tpn's texts are written in English and translated with the gettext catalogues in
``tpn/locale`` (one folder per language: adding one takes no code, see the README). A text
made by :func:`_` is a :class:`Text`: a ``str`` that reads as English everywhere a string
is expected (the CLI, CSV files, the API, tests) and remembers how it was made, so that a
page can say it in the reader's language — a match's explanations are made once and read
in any language afterwards. Placeholders are named (``{mentor}``), and a number in a text is
written the reader's way (``0,85`` in French).

>>> t = _("{name} is at capacity ({n} of {cap}): {busy}", name="Huye", n=2, cap=2,
...       busy="Nyanza")
>>> t
'Huye is at capacity (2 of 2): Nyanza'
>>> t.say("fr")
'Huye est à pleine capacité (2 sur 2) : Nyanza'
>>> ngettext("{n} problem found", "{n} problems found", 3)
'3 problems found'
>>> join([_("locked"), "Huye"], end=".", capital=True)
'Locked; Huye.'
"""

from __future__ import annotations

import contextlib
import functools
import gettext
import html
import numbers
from contextvars import ContextVar
from pathlib import Path

from .errors import InputError, Problem

LOCALE_DIR = Path(__file__).parent / "locale"
DEFAULT = "en"                  # the language tpn is written in

_language: ContextVar[str] = ContextVar("tpn_language", default=DEFAULT)
# False inside english_only(): texts are made as plain English strings, nothing kept.
_keep: ContextVar[bool | None] = ContextVar("tpn_keep_texts", default=None)


@functools.lru_cache(maxsize=1)
def languages() -> dict[str, str]:
    """Every language tpn speaks, by code, named in itself: English and each catalogue
    compiled in ``tpn/locale``.

    >>> languages()["fr"]
    'français'
    """
    from babel import Locale

    codes = [DEFAULT] + sorted(p.parent.parent.name for p in
                               LOCALE_DIR.glob("*/LC_MESSAGES/messages.mo"))
    return {code: Locale.parse(code).get_display_name(code) for code in codes}


def checked(code: str | None, field: str = "language") -> str:
    """``code`` when tpn speaks it (None: English); else an InputError naming the others."""
    code = code or DEFAULT
    if code not in languages():
        raise InputError(Problem("", None, None, field, _(
            "{code!r} is not a language tpn speaks", code=code), _(
            "choose one of: {known}", known=", ".join(languages()))))
    return code


def current() -> str:
    """The language texts are said in now (a web request sets it; elsewhere English)."""
    return _language.get()


@contextlib.contextmanager
def _setting(var: ContextVar, value):
    token = var.set(value)
    try:
        yield
    finally:
        var.reset(token)


def english_only():
    """Texts made inside are plain English strings: for results written in English only
    (a match's files), where keeping how each was made costs time and memory."""
    return _setting(_keep, False)


def keeping():
    """Texts made inside keep how they were made, even where english_only() is the rule
    (a run stored to be read in any language)."""
    return _setting(_keep, True)


def keeps() -> bool:
    """Whether someone asked for the texts made now to keep how they were made."""
    return bool(_keep.get())


def use(language: str) -> None:
    """Say texts in ``language`` from now on in this context (one web request)."""
    _language.set(language)


@functools.lru_cache(maxsize=None)
def translations(language: str) -> gettext.NullTranslations:
    """The catalogue of a language (English and an unknown language: the texts as written)."""
    if language == DEFAULT:
        return gettext.NullTranslations()
    from babel.support import Translations

    return Translations.load(str(LOCALE_DIR), [language])


def N_(msgid: str) -> str:
    """Marks a text for the catalogue where it is written; it is translated where shown."""
    return msgid


# The separators of joined texts, which some languages space differently (French: " ; ").
SEPARATORS = (N_("; "), N_(", "))


_QUOTES = {ord('"'): "&#34;", ord("'"): "&#39;"}


class Text(str):
    """A text for people: English as a ``str``, and how it was made (``spec``, plain JSON
    data) to say it in another language with :meth:`say`."""

    def __new__(cls, english: str, spec: dict):
        text = super().__new__(cls, english)
        text.spec = spec
        return text

    def say(self, language: str | None = None) -> str:
        """The text in ``language`` (default: the current one)."""
        language = language or _language.get()
        return str(self) if language == DEFAULT else _render(self.spec, language)

    def __html__(self) -> str:
        # Jinja shows a Text in the page's language, escaped as Jinja escapes a string.
        return html.escape(self.say(), quote=False).translate(_QUOTES)

    def __reduce__(self):
        return (Text, (str(self), self.spec))

    @classmethod
    def restore(cls, english: str, spec: dict | None) -> "Text | str":
        """A text read back from storage (``spec`` None: a plain string, kept as it is)."""
        return cls(english, spec) if spec else english


def _(msgid: str, **args) -> Text:
    """A text for people: ``msgid`` with its named placeholders filled."""
    if not args:
        return msgid if _keep.get() is False else Text(msgid, {"m": msgid})
    english = msgid.format(**args)
    return english if _keep.get() is False else \
        Text(english, {"m": msgid, "a": _spec_args(args)})


def ngettext(singular: str, plural: str, n: int, **args) -> Text:
    """A text whose form depends on the count ``n`` (also a placeholder, ``{n}``)."""
    english = (singular if n == 1 else plural).format(n=n, **args)
    if _keep.get() is False:
        return english
    return Text(english, {"s": singular, "p": plural, "n": int(n), "a": _spec_args(args)})


def join(parts, sep: str = "; ", end: str = "", capital: bool = False) -> Text:
    """Texts (and plain strings, such as names) one after another."""
    parts = list(parts)
    english = sep.join(parts) + end
    if capital and english:
        english = english[0].upper() + english[1:]
    if _keep.get() is False:
        return english
    spec = {"j": [p.spec if isinstance(p, Text) else str(p) for p in parts], "s": sep}
    if end:
        spec["e"] = end
    if capital:
        spec["c"] = True
    return Text(english, spec)


def number(value: float, spec: str = "g") -> Text:
    """A number as Python's ``format`` writes it, in the reader's way when said.

    >>> number(0.85, ".2f"), number(0.85, ".2f").say("fr")
    ('0.85', '0,85')
    """
    text = format(value, spec)
    return text if _keep.get() is False else Text(text, {"v": _plain(value), "f": spec})


def lower(text) -> Text:
    """A text in lower case, in any language (a record's title inside a sentence).

    >>> lower(_("Action plan"))
    'action plan'
    """
    low = str(text).lower()
    if _keep.get() is False:
        return low
    return Text(low, {"j": [text.spec if isinstance(text, Text) else str(text)], "s": "",
                      "l": True})


def say(text, language: str | None = None) -> str:
    """Any text in ``language``: a :class:`Text` translated, anything else as it is."""
    return text.say(language) if isinstance(text, Text) else ("" if text is None else str(text))


def spec(text) -> dict | None:
    """How to store a text: its spec, or None for a plain string."""
    return text.spec if isinstance(text, Text) else None


def _spec_args(args: dict) -> dict:
    return {k: _plain(v) for k, v in args.items()}


def _plain(value):
    """An argument as plain JSON data: a text's spec, a number, or its string."""
    if isinstance(value, Text):
        return value.spec
    if isinstance(value, (str, bool)) or value is None:
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    return str(value)


class _Number:
    """A number formatted as Python would, then written with the language's symbols."""

    def __init__(self, value, language: str):
        self.value, self.language = value, language

    def __format__(self, spec: str) -> str:
        if spec.endswith("%"):
            digits = format(self.value * 100, spec[:-1] + "f")
            return _symbols(digits, self.language) + _percent_sign(self.language)
        return _symbols(format(self.value, spec), self.language)


@functools.lru_cache(maxsize=None)
def _symbol_table(language: str) -> dict:
    from babel.numbers import get_decimal_symbol, get_group_symbol

    return {ord("."): get_decimal_symbol(language), ord(","): get_group_symbol(language)}


@functools.lru_cache(maxsize=None)
def _percent_sign(language: str) -> str:
    from babel.numbers import format_percent

    return format_percent(1, locale=language).replace("100", "", 1)


def _symbols(text: str, language: str) -> str:
    return text.translate(_symbol_table(language))


def _value(value, language: str):
    if isinstance(value, dict):
        return _render(value, language)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _Number(value, language)
    return value


def _render(spec, language: str) -> str:
    if isinstance(spec, str):
        return spec
    if "v" in spec:
        return format(_Number(spec["v"], language), spec["f"])
    catalogue = translations(language)
    args = {k: _value(v, language) for k, v in spec.get("a", {}).items()}
    if "j" in spec:
        sep = catalogue.gettext(spec["s"]) if spec["s"] in SEPARATORS else spec["s"]
        text = sep.join(_render(p, language) for p in spec["j"]) + spec.get("e", "")
        if spec.get("l"):
            return text.lower()
        return text[0].upper() + text[1:] if spec.get("c") and text else text
    if "m" in spec:
        msgid = spec["m"]
        translated = catalogue.gettext(msgid)
    else:
        msgid = spec["s"] if spec["n"] == 1 else spec["p"]
        translated = catalogue.ngettext(spec["s"], spec["p"], spec["n"])
        args["n"] = _Number(spec["n"], language)
    if not args:
        return translated
    try:
        return translated.format(**args)
    except (KeyError, IndexError, ValueError):
        # A translation that names a placeholder the text lacks: the text as written.
        return msgid.format(**args)

