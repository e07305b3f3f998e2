"""Who may do what: accounts with roles, sign-in, and read-only share links.

Roles, each allowed what the one before is: viewer (read), facilitator (import, focus,
match, review, publish, share), admin (accounts). An account given networks (``tpn user
give``) works on those alone, with the role given on each. A share link signs a participant
in as a viewer of one network only, without an account.
"""

from __future__ import annotations

import functools
import inspect
import threading
import time
from urllib.parse import urlsplit

from flask import (Blueprint, abort, current_app, g, redirect, render_template, request,
                   session, url_for)

from tpn import services
from tpn.i18n import _

from . import db
from .languages import flash

bp = Blueprint("auth", __name__)
RANK = {"viewer": 0, "facilitator": 1, "admin": 2}


def init_app(app) -> None:
    app.register_blueprint(bp)
    app.before_request(load_user)
    app.extensions["tpn_throttles"] = {"account": Throttle(10, 15 * 60),
                                       "address": Throttle(30, 15 * 60)}


def load_user() -> None:
    """g.user from the session: signed in (a sign-in the server still holds open), or a
    participant of a live share link; an expired sign-in is dropped and remembered so the
    login page can say why."""
    g.user = None
    g.expired = False
    if request.args.get("projector") in ("1", "0"):
        session["projector"] = request.args["projector"] == "1"
    g.projector = session.get("projector", False)
    if "sid" in session:
        lifetime = current_app.config["PERMANENT_SESSION_LIFETIME"].total_seconds()
        found = None
        if time.time() - session.get("login_at", 0) > lifetime:
            g.expired = True
        else:
            found = services.session_user(db(), session["sid"])
        if found is None:       # expired, signed out elsewhere, or a new password
            session.pop("sid", None)
        else:
            g.user = account(found)
        return
    token = session.get("share")
    if token:
        shared = services.shared_network(db(), token)
        if shared:
            g.user = {"username": "participant", "role": "viewer", "network": shared.name,
                      "show_contacts": shared.show_contacts}
        else:
            session.pop("share", None)


def account(found) -> dict:
    """g.user for a signed-in account. One given networks is a viewer until a view names
    one of them (see :func:`role_required`)."""
    grants = dict(found.networks) if found.networks else None
    return {"username": found.username, "role": "viewer" if grants else found.role,
            "network": None, "networks": grants, "show_contacts": True}


def _allowed(role: str, view_args: dict) -> bool:
    """Whether g.user may open a view that needs ``role``, with these URL arguments; an
    account given networks gets, on the view's network, the role given there."""
    grants = g.user.get("networks")
    if not grants:
        return RANK[g.user["role"]] >= RANK[role]
    network = network_of(view_args)
    granted = grants.get(network) if network is not None else None
    g.user["role"] = granted or "viewer"        # what the page offers follows
    if network is None:         # a page of no network (the list of networks, accounts)
        return role == "viewer"
    return granted is not None and RANK[granted] >= RANK[role]


def network_of(view_args: dict) -> str | None:
    """The network a view's URL is about (by name, run or job); 404 for a run or job
    that does not exist."""
    if "name" in view_args:
        return view_args["name"]
    if "run_id" in view_args:
        found = services.run_network(db(), view_args["run_id"])
        if found is None:
            abort(404)
        return found
    if "job_id" in view_args:
        job = current_app.extensions["tpn_jobs"].get(view_args["job_id"])
        if job is None:
            abort(404)
        return job.network
    return None


def role_required(role: str = "viewer"):
    """The view needs a signed-in user with at least ``role`` (on the view's network, for
    an account given networks)."""
    def decorator(view):
        signature = inspect.signature(view)

        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            if g.user is None:
                if request.path.startswith("/api/"):
                    return {"error": "sign in first (POST /login, or HTTP Basic auth)"}, 401
                if g.expired:
                    flash(_("Your session has expired. Sign in again."), "warning")
                return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
            if not _allowed(role, signature.bind_partial(*args, **kwargs).arguments):
                abort(403)
            return view(*args, **kwargs)
        return wrapped
    return decorator


def can(role: str) -> bool:
    return g.get("user") is not None and RANK[g.user["role"]] >= RANK[role]


def visible_networks() -> list[str]:
    """The networks g.user may open: one for a share link, those given to an account
    given networks, else every one."""
    names = services.networks(db())
    if g.user["network"]:
        return [n for n in names if n == g.user["network"]]
    if g.user.get("networks"):
        return [n for n in names if n in g.user["networks"]]
    return names


def check_network(name: str) -> None:
    """A share link opens one network only."""
    if g.user and g.user["network"] not in (None, name):
        abort(403)


CONTACT_WORDS = ("contact", "email", "mail", "phone", "telephone", "mobile", "whatsapp")


def is_contact(field: str) -> bool:
    """An institution attribute that reaches a person (email, phone, contact person)."""
    return any(word in field.lower() for word in CONTACT_WORDS)


def shows_contacts() -> bool:
    """Accounts see contact details; a share link only when the facilitator allowed it."""
    return bool(g.user and g.user.get("show_contacts"))


def check_run(run) -> None:
    """A share link opens its network's published runs, never a draft under review."""
    check_network(run.network)
    if g.user and g.user["network"] is not None and run.status != "published":
        abort(404)


def shown_runs(runs: list) -> list:
    """The runs a share link may list: the published and superseded ones."""
    if g.user and g.user["network"] is not None:
        return [r for r in runs if r.status != "draft"]
    return runs


def _safe_next(target: str | None) -> str:
    """Only a path on this site, never another host (no open redirect)."""
    if not target:
        return url_for("networks.index")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/"):
        return url_for("networks.index")
    return target


class Throttle:
    """Failed sign-ins per account and per address: after ``limit`` within ``window``
    seconds, further tries are refused, the right password included, until the oldest
    failure leaves the window. Kept in this process (the app runs as one)."""

    def __init__(self, limit: int, window: float):
        self.limit, self.window = limit, window
        self._failures: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def wait(self, key: str) -> float:
        """Seconds before ``key`` may try again (0: now)."""
        with self._lock:
            recent = self._recent(key)
            return 0.0 if len(recent) < self.limit else recent[0] + self.window - time.time()

    def failed(self, key: str) -> None:
        with self._lock:
            self._recent(key).append(time.time())

    def _recent(self, key: str) -> list[float]:
        since = time.time() - self.window
        recent = [t for t in self._failures.get(key, []) if t > since]
        self._failures[key] = recent
        if len(self._failures) > 10_000:        # forget the oldest keys, not the memory
            for stale in list(self._failures)[:5_000]:
                self._failures.pop(stale, None)
        return recent


def sign_in(username: str, password: str):
    """The account, None for a wrong name or password, or the seconds to wait when this
    name or this address failed too often (for the login page and the API alike)."""
    throttles = current_app.extensions["tpn_throttles"]
    keys = [("account", username.strip().lower()), ("address", request.remote_addr or "")]
    wait = max(throttles[kind].wait(key) for kind, key in keys)
    if wait > 0:
        return wait
    found = services.authenticate(db(), username, password)
    if found is None:
        for kind, key in keys:
            throttles[kind].failed(key)
    return found


def too_many(wait: float) -> str:
    return _("Too many failed sign-ins for this name or from this address: try again in "
             "{minutes} minute(s).", minutes=max(1, round(wait / 60)))


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "POST":
        found = sign_in(request.form.get("username", ""), request.form.get("password", ""))
        if isinstance(found, float):
            flash(too_many(found), "error")
            return render_template("login.html"), 429
        if found is None:
            flash(_("Wrong user name or password."), "error")
            return render_template("login.html"), 401
        session.clear()
        session.permanent = True
        session["sid"] = services.start_session(db(), found.username)
        session["login_at"] = time.time()
        return redirect(_safe_next(request.args.get("next")))
    return render_template("login.html")


@bp.route("/logout", methods=["POST"])
def logout():
    if "sid" in session:        # ended on the server: a copy of the cookie opens nothing
        services.end_session(db(), session["sid"])
    session.clear()
    flash(_("Signed out."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/s/<token>")
def share(token: str):
    shared = services.shared_network(db(), token)
    if shared is None:
        abort(404)
    if g.user is not None and g.user["network"] is None:
        # A signed-in facilitator keeps their session; the link would only narrow it.
        flash(_("You are signed in as {username}: the share link was not used. Sign "
                "out first to see what participants see.", username=g.user['username']), "info")
        return redirect(url_for("networks.overview", name=shared.name))
    session.clear()
    session["share"] = token
    return redirect(url_for("networks.overview", name=shared.name))


@bp.route("/users", methods=["GET", "POST"])
@role_required("admin")
def users():
    if request.method == "POST":
        services.add_user(db(), request.form.get("username", ""),
                          request.form.get("password", ""), request.form.get("role", ""))
        flash(_("Account {username} created.", username=request.form['username']), "info")
        return redirect(url_for("auth.users"))
    return render_template("users.html", users=services.users(db()), roles=list(RANK),
                           network_roles=services.NETWORK_ROLES,
                           networks=services.networks(db()))


@bp.route("/users/networks", methods=["POST"])
@role_required("admin")
def give_network():
    form = request.form
    role = form.get("role") or None
    found = services.give_network(db(), form.get("username", ""), form.get("network", ""),
                                  None if role == "none" else role)
    where = ", ".join(f"{n} ({r})" for n, r in found.networks)
    flash(_("{user} works on {networks}.", user=found.username, networks=where) if where else
          _("{user} works on every network, as {role}.", user=found.username, role=found.role),
          "info")
    return redirect(url_for("auth.users"))
