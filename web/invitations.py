"""Institutions take part: each one's own page behind its invitation link (no account),
where it answers and, as a mentor, accepts or declines its proposed mentees; and the
facilitator's side: invitations with QR cards and a mail-merge list, the board of answers,
and a draft shared with its mentors."""

from __future__ import annotations

import tempfile
from io import BytesIO
from pathlib import Path

from flask import (Blueprint, abort, current_app, g, redirect, render_template, request,
                   send_file, url_for)

from tpn import services
from tpn.errors import InputError, NotFoundError
from tpn.i18n import _, current
from tpn.models import MAX_PREFERRED
from tpn.services import invitations

from . import db
from .auth import Throttle, check_network, role_required
from .languages import flash
from .paging import SHOWN, matches_words, page_of

bp = Blueprint("invitations", __name__)


def init_app(app) -> None:
    app.register_blueprint(bp)
    # Guessing links: unknown tokens per address; answers per link (a page saved by hand is
    # a few a day).
    app.extensions["tpn_throttles"].update(invitation=Throttle(20, 10 * 60),
                                           answer=Throttle(30, 60 * 60))


def _throttle(kind: str, key: str) -> None:
    if current_app.extensions["tpn_throttles"][kind].wait(key) > 0:
        abort(429)


def written(token: str) -> None:
    """Count a write through an invitation (429 once a link writes too often)."""
    _throttle("answer", token)
    current_app.extensions["tpn_throttles"]["answer"].failed(token)


def checked(token: str):
    """The live invitation of a token, or 404 (and a failure counted against the address:
    guessing links is throttled)."""
    address = request.remote_addr or ""
    _throttle("invitation", address)
    try:
        return invitations.invited(db(), token)
    except NotFoundError:
        current_app.extensions["tpn_throttles"]["invitation"].failed(address)
        raise


def base_url() -> str:
    """The address invitation links start with: PUBLIC_URL when set, else this request's."""
    return current_app.config.get("PUBLIC_URL") or request.host_url


@bp.route("/i/<token>", methods=["GET", "POST"])
def institution(token: str):
    checked(token)
    max_focus = current_app.config["FOCUS_TOPICS"]
    problems, form = (), None
    if request.method == "POST":
        written(token)
        form = request.form
        focus = [(form.get(f"topic-{n}", ""),
                  [form.get(f"mentor-{n}-{k}", "") for k in range(1, MAX_PREFERRED + 1)])
                 for n in range(1, max_focus + 1)]
        try:
            invitations.submit(db(), token, focus, form.get("capacity", ""),
                               form.get("note", ""), max_focus)
        except InputError as exc:
            problems = exc.problems
        else:
            flash(_("Thank you: your answer is saved. You can change it until the "
                    "facilitator closes the round."), "info")
            return redirect(url_for("invitations.institution", token=token))
    page = invitations.page(db(), token, max_focus)
    return render_template("invitation.html", page=page, token=token, problems=problems,
                           form=form, max_preferred=MAX_PREFERRED), 400 if problems else 200


@bp.route("/i/<token>/respond", methods=["POST"])
def respond(token: str):
    checked(token)
    written(token)
    form = request.form
    run_id = form.get("run", "")
    response = invitations.respond(db(), token, int(run_id) if run_id.isdecimal() else 0,
                                   form.get("mentee", ""), form.get("topic", ""),
                                   form.get("response", ""), form.get("reason", ""))
    flash(_("Accepted: thank you.") if response.response == "accept" else
          _("Declined: thank you."), "info")
    return redirect(url_for("invitations.institution", token=token, _anchor="proposals"))


# --- the facilitator's side -----------------------------------------------------------------


def _qr(text: str) -> str:
    """An SVG QR code of a link, drawn here (no service outside)."""
    import segno

    return segno.make(text, error="m").svg_inline(scale=3, border=2)


def _searched(name: str):
    """The round's board, the institutions' names, and whether an institution matches the
    page's name search."""
    label = services.labels(db(), name)
    return invitations.board(db(), name), label, lambda key: matches_words(label(key), key)


@bp.route("/networks/<name>/invitations")
@role_required("facilitator")
def board(name: str):
    check_network(name)
    current, label, found = _searched(name)
    answers = [a for a in current.answers if found(a.institution_id)]
    waiting = [i for i in current.waiting if found(i.institution_id)]
    page = page_of(len(answers))
    return render_template("invitations.html", net=name, board=current, label=label,
                           link=lambda token: invitations.link(base_url(), token),
                           answers=answers[page["start"]:page["end"]], page=page,
                           waiting=waiting[:SHOWN], waiting_total=len(waiting))


@bp.route("/networks/<name>/invitations/create", methods=["POST"])
@role_required("facilitator")
def create(name: str):
    check_network(name)
    days = request.form.get("days", "30")
    made = invitations.create(db(), name, None, int(days) if days.isdecimal() else 0,
                              g.user["username"])
    flash(_("{n} institutions have a live invitation link.", n=len(made)), "info")
    return redirect(url_for("invitations.board", name=name))


@bp.route("/networks/<name>/invitations/revoke", methods=["POST"])
@role_required("facilitator")
def revoke(name: str):
    check_network(name)
    institution = request.form.get("institution") or None
    n = invitations.revoke(db(), name, institution)
    flash(_("{n} invitation link(s) revoked.", n=n), "info")
    return redirect(url_for("invitations.board", name=name))


@bp.route("/networks/<name>/invitations/cards")
@role_required("facilitator")
def cards(name: str):
    check_network(name)
    current, label, found = _searched(name)
    chosen = [i for i in current.invited if found(i.institution_id)]
    page = page_of(len(chosen))
    links = [(i, invitations.link(base_url(), i.token)) for i in chosen[page["start"]:page["end"]]]
    cards_ = [{"name": label(i.institution_id), "link": link, "qr": _qr(link),
               "expires": i.expires_at} for i, link in links]
    return render_template("invitation_cards.html", net=name, cards=cards_, page=page)


@bp.route("/networks/<name>/invitations.<fmt>")
@role_required("facilitator")
def export(name: str, fmt: str):
    check_network(name)
    if fmt not in invitations.EXPORT_FORMATS:
        abort(404)
    with tempfile.TemporaryDirectory() as tmp:
        out = invitations.export(db(), name, base_url(), fmt, Path(tmp) / f"links.{fmt}",
                                 language=current())
        data = out.read_bytes()
    mime = "text/csv" if fmt == "csv" else \
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return send_file(BytesIO(data), as_attachment=True, mimetype=mime,
                     download_name=f"{name}-invitations.{fmt}")


@bp.route("/networks/<name>/answers/<institution>", methods=["POST"])
@role_required("facilitator")
def decide(name: str, institution: str):
    check_network(name)
    decision = request.form.get("decision", "")
    invitations.decide(db(), name, institution, decision, g.user["username"])
    who = services.labels(db(), name)(institution)
    flash(_("The answer of {name} is accepted.", name=who) if decision == "accepted" else
          _("The answer of {name} is rejected.", name=who), "info")
    return redirect(url_for("invitations.board", name=name, _anchor="answers"))


@bp.route("/networks/<name>/answers/apply", methods=["POST"])
@role_required("facilitator")
def apply(name: str):
    check_network(name)
    done = invitations.apply(db(), name, g.user["username"])
    flash(_("The answers of {institutions} institutions are the round's focus: {focus} focus "
            "topics, {capacities} capacities ({rejected} rejected answers left out).",
            institutions=done.institutions, focus=done.focus, capacities=done.capacities,
            rejected=done.rejected) if done.rejected else
          _("The answers of {institutions} institutions are the round's focus: {focus} focus "
            "topics, {capacities} capacities.", institutions=done.institutions,
            focus=done.focus, capacities=done.capacities), "info")
    return redirect(url_for("invitations.board", name=name, _anchor="answers"))


@bp.route("/networks/<name>/answers/close", methods=["POST"])
@role_required("facilitator")
def close(name: str):
    check_network(name)
    closing = request.form.get("closed") == "yes"
    invitations.close(db(), name, g.user["username"], closed=closing)
    flash(_("Answers are closed: the invitation pages read, no longer write.") if closing else
          _("Answers are open again."), "info")
    return redirect(url_for("invitations.board", name=name))


@bp.route("/runs/<int:run_id>/ask-mentors", methods=["POST"])
@role_required("facilitator")
def ask_mentors(run_id: int):
    invitations.ask_mentors(db(), run_id, g.user["username"])
    flash(_("The draft is shared with its mentors: each one's invitation page "
            "lists its proposed mentees, to accept or decline."), "info")
    return redirect(url_for("runs.results", run_id=run_id))
