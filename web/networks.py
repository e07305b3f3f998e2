"""Networks: the list, a new one, and each network's front page (the workshop's steps)."""

from __future__ import annotations

from flask import Blueprint, current_app, g, redirect, render_template, request, url_for

from tpn import i18n, services
from tpn.errors import InputError, Problem
from tpn.i18n import _
from tpn.services import programme
from tpn.services.accounts import SHARE_DAYS

from . import db
from .auth import check_network, role_required, shown_runs, visible_networks
from .jobs import running
from .languages import flash

bp = Blueprint("networks", __name__)


def init_app(app) -> None:
    app.register_blueprint(bp)


@bp.route("/")
@role_required()
def index():
    if g.user["network"]:
        return redirect(url_for("networks.overview", name=g.user["network"]))
    return render_template("networks.html", networks=visible_networks())


@bp.route("/favicon.ico")
def favicon():
    return current_app.send_static_file("favicon.svg")


@bp.route("/networks", methods=["POST"])
@role_required("facilitator")
def create():
    name = request.form.get("name", "").strip()
    services.create_network(db(), name)
    flash(_("Network {name} created. Import its workbook next.", name=name), "info")
    return redirect(url_for("imports.upload", name=name))


@bp.route("/networks/<name>")
@role_required()
def overview(name: str):
    check_network(name)
    info = services.overview(db(), name)
    info["runs"] = shown_runs(info["runs"])
    links = services.share_links(db(), name) if g.user["network"] is None else []
    return render_template("overview.html", net=info, links=links, share_url=share_url,
                           jobs=running(name),
                           reachable=_reachable(), share_days=SHARE_DAYS,
                           partnerships=programme.partnerships(db(), name),
                           network_language=services.network_language(db(), name))


@bp.route("/networks/<name>/language", methods=["POST"])
@role_required("facilitator")
def language(name: str):
    check_network(name)
    code = request.form.get("language", "")
    services.set_network_language(db(), name, code, g.user["username"])
    flash(_("{network}'s pages are now shown in {language} to a reader who chose no "
            "language.", network=name, language=i18n.languages()[code]), "info")
    return redirect(url_for("networks.overview", name=name, _anchor="language"))


@bp.route("/networks/<name>/share", methods=["POST"])
@role_required("facilitator")
def share(name: str):
    days = request.form.get("days", "").strip() or str(SHARE_DAYS)
    if not (days.isascii() and days.isdecimal()):
        raise InputError(Problem("", None, None, "days",
                                 _("{days!r} is not a number of days", days=days),
                                 _("give how many days the link should work")))
    token = services.create_share_link(db(), name, g.user["username"], int(days),
                                       show_contacts=request.form.get("contacts") == "yes")
    flash(_("Share link created for {days} days: anyone with it can read this "
            "network's published results, and change nothing.", days=days), "info")
    return redirect(url_for("networks.overview", name=name, _anchor=f"link-{token[:8]}"))


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def share_url(token: str) -> str:
    """The link as participants must type it: the configured public address, else the
    address this page was reached at, else (reached on this computer) its address on the
    local network."""
    path = url_for("auth.share", token=token)
    public = current_app.config.get("PUBLIC_URL")
    if public:
        return public.rstrip("/") + path
    host = request.host
    name, _, port = host.rpartition(":") if host.count(":") == 1 else (host, "", "")
    listening = current_app.config.get("LISTEN_HOST")
    if name in LOOPBACK and listening is not None and listening not in LOOPBACK:
        lan = _lan_address()        # tpn serve --host 0.0.0.0, opened on this computer
        if lan:
            host = f"{lan}:{port}" if port else lan
    return f"{request.scheme}://{host}{path}"


def _lan_address() -> str | None:
    """This computer's address on the network it would reach others through (nothing is
    sent: a UDP socket only picks a route)."""
    import socket

    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("10.255.255.255", 1))
            address = probe.getsockname()[0]
    except OSError:
        return None
    return None if address.startswith("127.") else address


def _reachable() -> bool:
    """Whether other computers can reach the app: not when ``tpn serve`` listens on this
    computer only (a server started otherwise is taken at its word)."""
    if current_app.config.get("PUBLIC_URL"):
        return True
    return current_app.config.get("LISTEN_HOST") not in LOOPBACK


@bp.route("/networks/<name>/share/revoke", methods=["POST"])
@role_required("facilitator")
def revoke(name: str):
    services.revoke_share_link(db(), request.form.get("token", ""))
    flash(_("Share link revoked."), "info")
    return redirect(url_for("networks.overview", name=name))
