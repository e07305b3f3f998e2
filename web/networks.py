"""Networks: the list, a new one, and each network's front page (the workshop's steps)."""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for

from tpn import services
from tpn.services import programme

from . import db
from .auth import check_network, role_required

bp = Blueprint("networks", __name__)


def init_app(app) -> None:
    app.register_blueprint(bp)


@bp.route("/")
@role_required()
def index():
    if g.user["network"]:
        return redirect(url_for("networks.overview", name=g.user["network"]))
    return render_template("networks.html", networks=services.networks(db()))


@bp.route("/networks", methods=["POST"])
@role_required("facilitator")
def create():
    name = request.form.get("name", "").strip()
    services.create_network(db(), name)
    flash(f"Network {name} created. Import its workbook next.", "info")
    return redirect(url_for("imports.upload", name=name))


@bp.route("/networks/<name>")
@role_required()
def overview(name: str):
    check_network(name)
    info = services.overview(db(), name)
    links = services.share_links(db(), name) if g.user["network"] is None else []
    return render_template("overview.html", net=info, links=links,
                           partnerships=programme.partnerships(db(), name))


@bp.route("/networks/<name>/share", methods=["POST"])
@role_required("facilitator")
def share(name: str):
    token = services.create_share_link(db(), name, g.user["username"])
    flash("Share link created: anyone with it can read this network, and change nothing.",
          "info")
    return redirect(url_for("networks.overview", name=name, _anchor=f"link-{token[:8]}"))


@bp.route("/networks/<name>/share/revoke", methods=["POST"])
@role_required("facilitator")
def revoke(name: str):
    services.revoke_share_link(db(), request.form.get("token", ""))
    flash("Share link revoked.", "info")
    return redirect(url_for("networks.overview", name=name))
