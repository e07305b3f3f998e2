"""The language of each page: the reader's choice (a switch on every page, remembered in a
cookie), else the browser's Accept-Language, else the network's own language. An
institution's invitation page, and the pages a share link opens, follow the network's
language unless their reader chose one."""

from __future__ import annotations

from urllib.parse import urlsplit

from babel.dates import format_date
from babel.numbers import format_decimal
from flask import Blueprint, g, redirect, request
from flask import flash as flask_flash
from flask_babel import Babel, get_locale

from tpn import i18n, services
from tpn.errors import NotFoundError
from tpn.i18n import N_
from tpn.matching.explain import REASON_LABELS

from . import db

bp = Blueprint("languages", __name__)
COOKIE = "tpn_language"
YEAR = 365 * 24 * 3600


def init_app(app) -> None:
    Babel(app, locale_selector=lambda: g.get("language", i18n.DEFAULT),
          default_translation_directories=str(i18n.LOCALE_DIR))
    app.register_blueprint(bp)
    app.before_request(choose)
    app.jinja_env.filters.update(num=number, percent=percent, fixed=fixed, said=i18n.say,
                                 plain=plain, reason=reason, entry=entry, day=day,
                                 moment=moment)

    @app.context_processor
    def languages():
        return {"languages": i18n.languages(), "language": g.get("language", i18n.DEFAULT)}


def choose() -> None:
    """Decide this request's language (for Flask-Babel and for tpn's own texts)."""
    known = i18n.languages()
    chosen = request.cookies.get(COOKIE)
    language = chosen if chosen in known else None
    if language is None and not (_invitation_page() or _share_link()):
        language = request.accept_languages.best_match(known)
    g.language = language or _network_language() or i18n.DEFAULT
    i18n.use(g.language)


def _invitation_page() -> bool:
    return "token" in (request.view_args or {}) and (request.endpoint or "").startswith(
        "invitations.")


def _share_link() -> bool:
    """A participant who came by a network's share link (no account)."""
    return bool((g.get("user") or {}).get("network"))


def _network_language() -> str | None:
    """The language of the network this page is about, when one is named."""
    args = request.view_args or {}
    try:
        if _invitation_page():
            return services.invitations.invitation_language(db(), args["token"])
        name = args.get("name") or (g.get("user") or {}).get("network")
        return services.network_language(db(), name) if name else None
    except NotFoundError:
        return None


@bp.route("/language/<code>")
def switch(code: str):
    """Show pages in ``code`` from now on, and go back to the page the switch was on."""
    back = request.args.get("next", "/")
    parts = urlsplit(back)
    # Never a redirect off this site (browsers read a backslash as a slash: /\\host).
    if parts.scheme or parts.netloc or not back.startswith("/") or back.startswith("//") \
            or "\\" in back:
        back = "/"
    response = redirect(back)
    if code in i18n.languages():
        response.set_cookie(COOKIE, code, max_age=YEAR, httponly=True, samesite="Lax",
                            secure=request.is_secure)
    return response


def plain(value) -> str:
    """A text as stored (English), for a form's value: never the translation shown."""
    return "" if value is None else str(value)


def reason(code: str) -> str:
    """A reason code (mentors_full, at_capacity…) as words in the page's language."""
    return i18n.say(i18n._(REASON_LABELS[code])) if code in REASON_LABELS else code


def entry(value) -> str:
    """A number in a form field, in the page's language and without grouping (what
    ``MatchOptions.from_mapping`` reads back); anything else as it is."""
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    return format_decimal(value, format="0.######", locale=get_locale())


def number(value, digits: int = 1) -> str:
    """A number for people in the page's language: at most ``digits`` decimals, no
    trailing zeros, empty for missing."""
    if value is None or value == "":
        return ""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return str(value)
    pattern = "#,##0." + "#" * digits if digits else "#,##0"
    return format_decimal(round(value, digits), format=pattern, locale=get_locale())


def fixed(value, digits: int = 2, sign: bool = False) -> str:
    """A number with exactly ``digits`` decimals (and its sign, with ``sign``) in the page's
    language: +0,25."""
    if value is None or value == "":
        return ""
    pattern = "#,##0." + "0" * digits if digits else "#,##0"
    text = format_decimal(float(value), format=pattern, locale=get_locale())
    return "+" + text if sign and float(value) >= 0 else text


def day(value) -> str:
    """A date (or a moment's date) the page's language's way: 5 Dec 2026, 5 déc. 2026."""
    return format_date(value, format="medium", locale=get_locale())


def moment(value) -> str:
    """A moment to the minute: its date the page's language's way, then the 24-hour time
    (in its own time zone, UTC)."""
    return f"{day(value)} {value:%H:%M}"


def percent(value, digits: int = 0) -> str:
    """A share (0.5) as a percentage in the page's language (50 %)."""
    if value is None or value == "":
        return ""
    return i18n.say(i18n.number(float(value), f".{digits}%"), str(get_locale()))


def flash(message, category: str = "message") -> None:
    """Flask's flash, said in this request's language (the session keeps plain text)."""
    flask_flash(i18n.say(message) if isinstance(message, i18n.Text) else message, category)


# Words pages translate from data (a role, a status, an action): marked here for the catalogue.
VOCABULARY = (N_("viewer"), N_("facilitator"), N_("admin"), N_("draft"), N_("published"),
              N_("superseded"), N_("new"), N_("accepted"), N_("rejected"), N_("applied"),
              N_("declined"), N_("pending"), N_("lock"), N_("exclude"), N_("swap"), N_("undo"),
              N_("mentee"), N_("mentor"), N_("topic"), N_("priority"), N_("gain"),
              N_("distance"), N_("cost"))
