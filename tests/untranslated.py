"""Finding text shown to users that is not in the catalogue: a template's words outside
``_()`` and ``{% trans %}``, and Python literals handed straight to a user-facing call."""

from __future__ import annotations

import ast
import re
from html.parser import HTMLParser
from pathlib import Path

import jinja2

WORD = re.compile(r"[^\W\d_]{2,}")
MARK = "\x00"
# Attributes a person reads (or hears from a screen reader).
READ_ATTRIBUTES = {"title", "placeholder", "aria-label", "alt", "label"}
# Words that are the same in every language: names of formats, products and units.
SAME_IN_EVERY_LANGUAGE = {"tpn", "DHIS2", "CSV", "XLSX", "xlsx", "csv", "json", "zip", "km",
                          "QR", "OpenAPI", "API", "UTC", "SVG"}


TRANSLATE = {"_", "gettext", "ngettext"}
SENTENCE = re.compile(r"[^\W\d_]{2,} [^\W\d_]{2,}")


def _skeleton(source: str) -> tuple[str, list[str]]:
    """The template's HTML with each Jinja expression or tag as one MARK, and the text of
    ``{% trans %}`` blocks (translated) left out; and the words written as string literals
    inside expressions without ``_()`` around them ({{ x or 'not measured' }})."""
    env = jinja2.Environment(extensions=["jinja2.ext.i18n"])
    out, literals, in_trans, after_block = [], [], False, False
    calls: list[bool] = []          # open parentheses: is each a translating call's?
    previous = None
    for _line, kind, value in env.lex(source):
        if kind == "data":
            if not in_trans:
                out.append(value)
        elif kind in ("block_begin", "variable_begin"):
            after_block = kind == "block_begin"
            calls = []
            if not in_trans:
                out.append(MARK)
        elif kind == "name" and after_block:
            if value == "trans":
                in_trans = True
            elif value == "endtrans":
                in_trans = False
            after_block = False
        elif kind == "operator" and value == "(":
            calls.append(previous in TRANSLATE)
        elif kind == "operator" and value == ")" and calls:
            calls.pop()
        elif kind == "string" and not (calls and calls[-1]):
            words = [w for w in WORD.findall(value) if w not in SAME_IN_EVERY_LANGUAGE]
            if SENTENCE.search(value) and words:
                literals.append(value)
        previous = value if kind == "name" else None
    return "".join(out), literals


class _Text(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style", "code", "kbd"):
            self._skip += 1
        for name, value in attrs:
            if name in READ_ATTRIBUTES and value:
                self._check(value)

    def handle_endtag(self, tag):
        if tag in ("script", "style", "code", "kbd"):
            self._skip = max(0, self._skip - 1)

    def handle_data(self, data):
        if not self._skip:
            self._check(data)

    def _check(self, text: str) -> None:
        for fragment in text.split(MARK):
            words = [w for w in WORD.findall(fragment) if w not in SAME_IN_EVERY_LANGUAGE]
            if words:
                self.found.append(fragment.strip())


def template_words(path: Path) -> list[str]:
    """The bits of a template's text a person reads that are not translated."""
    skeleton, literals = _skeleton(path.read_text(encoding="utf-8"))
    parser = _Text()
    parser.feed(skeleton)
    return parser.found + literals


# Calls whose text arguments are shown to people, and which arguments those are.
USER_FACING = {"flash": (0,), "Problem": (4, 5), "problem": (2, 3), "_problem": (2, 3, 4),
               "InputError": (0,), "NotFoundError": (0,), "TpnError": (0,),
               "SourceError": (0,), "InfeasibleError": (0,), "ConflictError": (0,),
               "page": (1, 2), "Field": (1, 3), "bad": (1, 2), "where": (3, 4),
               "RejectedLock": (1,), "RecordKind": (2,), "_opt": (1,), "ValueError": (0,),
               "OptionsError": (0,), "report": (0,), "progress": (0,), "as_job": (2,),
               "start": (1,)}
USER_FACING_KEYWORDS = {"message", "fix", "label", "help", "title", "detail"}


def python_literals(path: Path) -> list[tuple[int, str]]:
    """String literals (or f-strings, or sums of them) given straight to a user-facing call:
    such a text cannot be translated."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else \
            node.func.id if isinstance(node.func, ast.Name) else ""
        if name not in USER_FACING:
            continue
        args = [a for k, a in enumerate(node.args) if k in USER_FACING[name]]
        args += [k.value for k in node.keywords if k.arg in USER_FACING_KEYWORDS]
        for arg in args:
            if _literal_text(arg):
                found.append((node.lineno, ast.unparse(arg)[:80]))
    return found


def _literal_text(node) -> bool:
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str) and bool(WORD.search(node.value))
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp):
        return _literal_text(node.left) or _literal_text(node.right)
    if isinstance(node, ast.IfExp):
        return _literal_text(node.body) or _literal_text(node.orelse)
    return False
