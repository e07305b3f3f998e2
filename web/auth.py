"""Who may do what: accounts with roles, sign-in, and read-only share links.

Roles, each allowed what the one before is: viewer (read), facilitator (import, focus,
match, review, publish, share), admin (accounts). A share link signs a participant in as a
viewer of one network only, without an account.
"""

from __future__ import annotations

import functools
import time
from urllib.parse import urlsplit

from flask import (Blueprint, abort, current_app, flash, g, redirect, render_template, request,
                   session, url_for)

from tpn import services

from . import db

bp = Blueprint("auth", __name__)
RANK = {"viewer": 0, "facilitator": 1, "admin": 2}


def init_app(app) -> None:
    app.register_blueprint(bp)
    app.before_request(load_user)


def load_user() -> None:
    """g.user from the session: signed in, or a participant of a share link; an expired
    sign-in is dropped and remembered so the login page can say why."""
    g.user = None
    g.expired = False
    if request.args.get("projector") in ("1", "0"):
        session["projector"] = request.args["projector"] == "1"
    g.projector = session.get("projector", False)
    if "user" in session:
        lifetime = current_app.config["PERMANENT_SESSION_LIFETIME"].total_seconds()
        if time.time() - session.get("login_at", 0) > lifetime:
            session.pop("user", None)
            g.expired = True
        else:
            found = services.user(db(), session["user"])
            if found:
                g.user = {"username": found.username, "role": found.role, "network": None}
            return
    token = session.get("share")
    if token:
        network = services.shared_network(db(), token)
        if network:
            g.user = {"username": "participant", "role": "viewer", "network": network}
        else:
            session.pop("share", None)


def role_required(role: str = "viewer"):
    """The view needs a signed-in user with at least ``role``."""
    def decorator(view):
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            if g.user is None:
                if request.path.startswith("/api/"):
                    return {"error": "sign in first (POST /login, or HTTP Basic auth)"}, 401
                if g.expired:
                    flash("Your session has expired. Sign in again.", "warning")
                return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
            if RANK[g.user["role"]] < RANK[role]:
                abort(403)
            return view(*args, **kwargs)
        return wrapped
    return decorator


def can(role: str) -> bool:
    return g.get("user") is not None and RANK[g.user["role"]] >= RANK[role]


def check_network(name: str) -> None:
    """A share link opens one network only."""
    if g.user and g.user["network"] not in (None, name):
        abort(403)


def _safe_next(target: str | None) -> str:
    """Only a path on this site, never another host (no open redirect)."""
    if not target:
        return url_for("networks.index")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/"):
        return url_for("networks.index")
    return target


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "POST":
        found = services.authenticate(db(), request.form.get("username", ""),
                                      request.form.get("password", ""))
        if found is None:
            flash("Wrong user name or password.", "error")
            return render_template("login.html"), 401
        session.clear()
        session.permanent = True
        session["user"] = found.username
        session["login_at"] = time.time()
        return redirect(_safe_next(request.args.get("next")))
    return render_template("login.html")


@bp.route("/logout", methods=["POST"])
def logout():
    session.clear()
    flash("Signed out.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/s/<token>")
def share(token: str):
    network = services.shared_network(db(), token)
    if network is None:
        abort(404)
    session.clear()
    session["share"] = token
    return redirect(url_for("networks.overview", name=network))


@bp.route("/users", methods=["GET", "POST"])
@role_required("admin")
def users():
    if request.method == "POST":
        services.add_user(db(), request.form.get("username", ""),
                          request.form.get("password", ""), request.form.get("role", ""))
        flash(f"Account {request.form['username']} created.", "info")
        return redirect(url_for("auth.users"))
    return render_template("users.html", users=services.users(db()), roles=list(RANK))
