"""The workshop app: a Flask application over ``tpn.services``.

``create_app`` is the only place the web parts are assembled. Views parse a form, call a
service and render; there is no SQL and no solver call in ``web``.

>>> import tempfile
>>> app = create_app({"TESTING": True, "INSTANCE": tempfile.mkdtemp()})
>>> ", ".join(sorted(app.blueprints))
'api, auth, evaluation, gaps, imports, invitations, jobs, languages, networks, programme, quality, runs'
"""

from __future__ import annotations

import datetime as dt
import os
import secrets

from flask import Flask, g, render_template, request
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from tpn.errors import InputError, NotFoundError, TpnBug, TpnError
from tpn.i18n import N_, _, ngettext, say
from tpn.settings import Settings
from tpn.storage import Database

csrf = CSRFProtect()

# One error handler maps tpn's exception tree to HTTP codes (the CLI maps it to exit codes).
# Flask-WTF's reasons a form's CSRF token is refused, for the catalogue.
CSRF_REASONS = (N_("The CSRF token is missing."), N_("The CSRF session token is missing."),
                N_("The CSRF token has expired."), N_("The CSRF token is invalid."),
                N_("The CSRF tokens do not match."), N_("The referrer header is missing."),
                N_("The referrer does not match the host."))
STATUS = {InputError: 400, NotFoundError: 404}


class RowId(IntegerConverter):
    """``<int:...>`` in every route: an id the database can hold (a 32-bit integer), so
    that /runs/9223372036854775808 is a 404, not a database error."""

    def __init__(self, url_map, *args, **kwargs):
        kwargs.setdefault("max", 2 ** 31 - 1)
        super().__init__(url_map, *args, **kwargs)


def create_app(config: dict | None = None) -> Flask:
    """The app. ``config`` overrides settings; ``INSTANCE`` is the folder for the database,
    the secret key and uploads (default: TPN_INSTANCE, else ./instance)."""
    config = dict(config or {})
    settings = Settings.read(config.pop("INSTANCE", None), config.get("DATABASE_URL"))
    instance = settings.make_instance()
    app = Flask(__name__, instance_path=str(instance))
    app.url_map.converters["int"] = RowId
    app.config.from_mapping(
        DATABASE_URL=None,
        MAX_CONTENT_LENGTH=20 * 1024 * 1024,       # a national workbook is a few MB
        PERMANENT_SESSION_LIFETIME=dt.timedelta(hours=12),   # one workshop day
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        WTF_CSRF_TIME_LIMIT=12 * 3600,
        FOCUS_TOPICS=3,                            # focus topics per institution on the form
    )
    app.config.update(config)
    public = app.config.setdefault("PUBLIC_URL", os.environ.get("TPN_PUBLIC_URL", "").strip())
    if public.startswith("https://"):
        # Served over HTTPS behind a proxy: cookies only over HTTPS, and the proxy's
        # X-Forwarded-Proto/-Host/-For believed (one proxy in front).
        app.config["SESSION_COOKIE_SECURE"] = True
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = settings.secret_key()
    app.extensions["tpn_db"] = Database.open(settings.database_url)
    app.extensions["tpn_uploads"] = instance / "uploads"
    csrf.init_app(app)

    from . import (api, auth, evaluation, gaps, imports, invitations, jobs, languages,
                   networks, programme, quality, runs)

    # languages after auth: a share link's network decides the language of its pages.
    for module in (auth, languages, networks, imports, gaps, quality, runs, programme,
                   evaluation, jobs, invitations, api):
        module.init_app(app)
    _errors(app)
    _headers(app)
    return app


def db() -> Database:
    from flask import current_app

    return current_app.extensions["tpn_db"]


def in_background() -> bool:
    """A form sent by static/inplace.js: the answer is JSON for its row, not a page."""
    return request.headers.get("X-Requested-With") == "fetch"


def _wants_json() -> bool:
    """The API, and forms sent in the background."""
    return request.path.startswith("/api/") or in_background()


def _errors(app: Flask) -> None:
    def page(status: int, title: str, message: str, problems=()):
        if _wants_json():
            # The API answers in English (stable texts); a form sent in the background in
            # the page's language.
            speak = say if in_background() else str
            return {"error": speak(message),
                    "problems": [{k: speak(v) if isinstance(v, str) else v
                                  for k, v in p.as_dict().items()} for p in problems]}, status
        return render_template("error.html", title=title, message=message,
                               problems=problems), status

    @app.errorhandler(TpnError)
    def tpn_error(exc: TpnError):
        status = next((code for cls, code in STATUS.items() if isinstance(exc, cls)), 409)
        if isinstance(exc, InputError):
            n = len(exc.problems)
            return page(status, _("Nothing was saved"),
                        ngettext("{n} problem found; nothing was saved.",
                                 "{n} problems found; nothing was saved.", n),
                        exc.problems)
        return page(status, _("Not found") if status == 404 else _("That did not work"),
                    exc.text)

    @app.errorhandler(TpnBug)
    def tpn_bug(exc: TpnBug):
        # Logged with its traceback under a reference the page shows, to report it.
        reference = secrets.token_hex(4)
        app.logger.exception("tpn bug, reference %s", reference)
        return page(500, _("Something went wrong in tpn"),
                    _("{exc} (reference {reference}). Nothing you entered was lost; tell the "
                      "person who runs this server, with the reference.", exc=exc,
                      reference=reference))

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError):
        return page(400, _("The form has expired"),
                    _("{description} Reload the page and send the form again.",
                      description=_(exc.description)))

    @app.errorhandler(403)
    def forbidden(_exc):
        return page(403, _("Not allowed"), _("Your role does not allow this. Ask an admin or the "
                                             "facilitator."))

    @app.errorhandler(404)
    def not_found(_exc):
        return page(404, _("Not found"), _("There is no such page."))

    @app.errorhandler(429)
    def too_many(_exc):
        return page(429, _("Too many tries"), _("Too many tries from here in a short time: wait a "
                                                "few minutes and try "
                                             "again."))

    @app.errorhandler(413)
    def too_large(_exc):
        limit = app.config["MAX_CONTENT_LENGTH"] // (1024 * 1024)
        return page(413, _("File too large"), _("The file is larger than {limit} MB. Split the "
                                                "workbook, or export "
                                             "fewer periods from DHIS2.", limit=limit))


def _headers(app: Flask) -> None:
    @app.after_request
    def security_headers(response):
        # Everything is served from this app: no CDN, no outside fonts, no inline script.
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if g.get("user") is not None and request.endpoint != "static":
            # A page for a signed-in person is not kept by the browser or a proxy: after
            # sign-out, Back shows nothing.
            response.headers["Cache-Control"] = "no-store"
        return response

    @app.context_processor
    def globals_():
        return {"user": g.get("user"), "projector": g.get("projector", False)}
