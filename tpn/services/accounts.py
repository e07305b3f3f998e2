"""Accounts and share links of the workshop app, and the demo that ``make demo`` opens."""

from __future__ import annotations

import datetime as dt
import functools
import secrets

from ..errors import InputError, NotFoundError, Problem
from ..i18n import _
from ..storage import Database
from ..storage import repository as repo
from ..storage.stored import SharedNetwork, ShareLink, User
from .networks import import_file, networks
from .runs import run_match, runs


MIN_PASSWORD = 8


def add_user(db: Database, username: str, password: str, role: str) -> None:
    """A workshop account; the password is kept only as a salted scrypt hash."""
    from werkzeug.security import generate_password_hash

    problems = []
    if not username.strip() or len(username) > 100 or username != username.strip():
        problems.append(Problem("", None, None, "username",
                                _("a user name is 1 to 100 characters without spaces around it"),
                                _("type a name")))
    if role not in repo.ROLES:
        problems.append(Problem("", None, None, "role", _("{role!r} is not a role", role=role),
                                _("use one of {join}", join=', '.join(repo.ROLES))))
    if len(password) < MIN_PASSWORD:
        problems.append(Problem("", None, None, "password",
                                _("the password is shorter than {MIN_PASSWORD} characters",
                                  MIN_PASSWORD=MIN_PASSWORD), _("choose a longer one")))
    if problems:
        raise InputError(problems)
    with db.transaction() as conn:
        repo.add_user(conn, username, generate_password_hash(password), role)


def set_password(db: Database, username: str, password: str) -> None:
    """A new password; every sign-in of the account ends with the old one."""
    from werkzeug.security import generate_password_hash

    if len(password) < MIN_PASSWORD:
        raise InputError(Problem("", None, None, "password",
                                 _("the password is shorter than {MIN_PASSWORD} characters",
                                   MIN_PASSWORD=MIN_PASSWORD), _("choose a longer one")))
    with db.transaction() as conn:
        if not repo.set_password(conn, username, generate_password_hash(password)):
            raise NotFoundError(_("no user {username!r}; add one with: tpn user add NAME",
                                  username=username))
        repo.end_sessions(conn, username=username)


def demo(db: Database) -> dict:
    """The sample network, its focus topics, a first draft run and a demo facilitator with
    a fresh password: what ``make demo`` opens. Safe to repeat: what exists is kept."""
    from ..samples import data_dir

    if "rwanda" not in networks(db):
        import_file(db, data_dir() / "rwanda", "rwanda", author="demo")
    if not runs(db, "rwanda"):
        run_match(db, "rwanda", author="demo")
    password = secrets.token_urlsafe(9)
    if user(db, "demo") is None:
        add_user(db, "demo", password, "facilitator")
    else:
        set_password(db, "demo", password)
    latest = runs(db, "rwanda")[-1]
    return {"network": "rwanda", "run": latest.id, "summary": latest.summary,
            "username": "demo", "password": password}


def authenticate(db: Database, username: str, password: str) -> User | None:
    """The user when the password is right, else None. An unknown name costs the same
    hash as a known one, so the time of the answer does not tell which names exist."""
    from werkzeug.security import check_password_hash

    with db.connect() as conn:
        found, stored = repo.get_user(conn, username), repo.password_hash(conn, username)
    right = check_password_hash(stored or _unknown_hash(), password)
    return found if found is not None and right else None


@functools.cache
def _unknown_hash() -> str:
    from werkzeug.security import generate_password_hash

    return generate_password_hash(secrets.token_hex(16))


def start_session(db: Database, username: str) -> str:
    """A sign-in kept on the server; its token goes into the signed session cookie."""
    token = secrets.token_urlsafe(32)
    with db.transaction() as conn:
        repo.start_session(conn, token, username)
    return token


def session_user(db: Database, token: str) -> User | None:
    """The account of a sign-in that has not ended (by sign-out or a new password)."""
    with db.connect() as conn:
        return repo.session_user(conn, token)


def end_session(db: Database, token: str) -> None:
    with db.transaction() as conn:
        repo.end_sessions(conn, token=token)


NETWORK_ROLES = ("facilitator", "viewer")


def give_network(db: Database, username: str, network: str, role: str | None) -> User:
    """Give an account one network with ``role`` (facilitator or viewer), or take it back
    (``role`` None). An account given networks works on those alone; one given none works
    on every network with its own role, as before. Admins manage every network.

    >>> from tpn.services import create_network
    >>> from tpn.storage import Database
    >>> db = Database.open("sqlite://")
    >>> create_network(db, "north"); add_user(db, "ana", "a long secret", "facilitator")
    >>> give_network(db, "ana", "north", "viewer").networks
    (('north', 'viewer'),)
    >>> give_network(db, "ana", "north", None).networks
    ()
    """
    found = user(db, username)
    if found is None:
        raise NotFoundError(_("no user {username!r}; add one with: tpn user add NAME",
                              username=username))
    if role is not None and role not in NETWORK_ROLES:
        raise InputError(Problem("", None, None, "role",
                                 _("{role!r} is not a role on a network", role=role),
                                 _("use one of {join}", join=', '.join(NETWORK_ROLES))))
    if found.role == "admin":
        raise InputError(Problem("", None, None, "username",
                                 _("{username} is an admin, who manages every network",
                                   username=username),
                                 _("give networks to a facilitator or viewer account")))
    with db.transaction() as conn:
        net_id = repo.network_id(conn, network)
        if not repo.set_access(conn, username, net_id, role) and role is None:
            raise NotFoundError(_("{username} was not given {network}", username=username,
                                  network=network))
    return user(db, username)


def user(db: Database, username: str) -> User | None:
    with db.connect() as conn:
        return repo.get_user(conn, username)


def users(db: Database) -> list[User]:
    with db.connect() as conn:
        return repo.list_users(conn)


SHARE_DAYS = 14         # a share link lasts a workshop and its follow-up, unless told


def create_share_link(db: Database, network: str, author: str = "cli", days: int = SHARE_DAYS,
                      show_contacts: bool = False) -> str:
    """A token that opens the network read-only, for participants without an account,
    for ``days``; institutions' contact columns stay hidden unless ``show_contacts``."""
    if not 1 <= days <= 366:
        raise InputError(Problem("", None, None, "days",
                                 _("{days} is not from 1 to 366", days=days),
                                 _("give how many days the link should work")))
    token = secrets.token_urlsafe(24)
    expires = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=days)
    with db.transaction() as conn:
        repo.add_share_link(conn, repo.network_id(conn, network), token, author, expires,
                            show_contacts)
    return token


def share_links(db: Database, network: str) -> list[ShareLink]:
    with db.connect() as conn:
        return repo.share_links(conn, repo.network_id(conn, network))


def revoke_share_link(db: Database, token: str) -> int:
    with db.transaction() as conn:
        return repo.revoke_share_link(conn, token)


def shared_network(db: Database, token: str) -> SharedNetwork | None:
    with db.connect() as conn:
        return repo.shared_network(conn, token)
