"""After the workshop: the programme dashboard, each partnership's dossier with the records
of WHO's cycle, their forms, the export, and the rerun on new scores."""

from __future__ import annotations

import datetime as dt
import tempfile
from io import BytesIO
from pathlib import Path

from flask import Blueprint, abort, g, redirect, render_template, request, send_file, url_for

from tpn import services
from tpn.i18n import _, current
from tpn.services import programme
from tpn.cycle import ACTIVITY_ROWS, KEEP_FROM_STEP, NETWORK_EVENT, RECORDS, STEPS, as_form
from tpn.errors import InputError, NotFoundError, Problem

from . import db
from .auth import check_network, role_required
from .jobs import as_job
from .languages import flash
from .paging import SHOWN, matches_words, page_of
from .runs import options_from

bp = Blueprint("programme", __name__)


def init_app(app) -> None:
    app.register_blueprint(bp)


def _partnership(name: str, partnership_id: int) -> dict:
    check_network(name)
    try:
        return programme.check_in_network(db(), name, partnership_id)
    except NotFoundError:
        abort(404)


def _record(name: str, record_id: int) -> dict:
    check_network(name)
    try:
        rec = programme.record(db(), record_id)
    except NotFoundError:
        abort(404)
    if rec["network"] != name:
        abort(404)
    return rec


@bp.route("/networks/<name>/programme")
@role_required()
def dashboard(name: str):
    check_network(name)
    board = programme.dashboard(db(), name)
    step = request.args.get("step", "")
    topic = request.args.get("topic", "")
    chosen = [p for p in board["partnerships"]
              if (not step or str(p["step"]) == step) and (not topic or topic in p["topics"])
              and matches_words(p["mentee_name"], p["mentor_name"])]
    page = page_of(len(chosen))
    topics = sorted({t for p in board["partnerships"] for t in zip(p["topics"], p["topic_names"])},
                    key=lambda t: t[1])
    return render_template("programme.html", net=name, board=board, steps=programme.STEPS,
                           most=max(board["by_step"].values(), default=0), page=page,
                           partnerships=chosen[page["start"]:page["end"]], step=step,
                           topic=topic, topics=topics, shown_limit=SHOWN,
                           keep_from_step=KEEP_FROM_STEP, label=services.labels(db(), name))


@bp.route("/networks/<name>/partnerships/<int:partnership_id>")
@role_required()
def partnership(name: str, partnership_id: int):
    _partnership(name, partnership_id)
    p = programme.partnership(db(), partnership_id)
    addable = [spec for spec in RECORDS.values() if spec.many or any(
        not programme.written(p["records"], spec.name, topic)
        for topic in (p["topics"] if spec.per_topic else [None]))]
    attended = services.events.attended_by(services.events.events(db(), name), partnership=p)
    return render_template("partnership.html", net=name, p=p, records=RECORDS,
                           addable=addable, steps=programme.STEPS, events=attended,
                           label=services.labels(db(), name))


@bp.route("/networks/<name>/partnerships/<int:partnership_id>/step", methods=["POST"])
@role_required("facilitator")
def step(name: str, partnership_id: int):
    _partnership(name, partnership_id)
    step_ = request.form.get("step", "")
    row = programme.set_step(db(), partnership_id, int(step_) if step_.isdecimal() else 0,
                             g.user["username"])
    flash(_("{mentee_id} with {mentor_id} is at step {step}: {value}.", mentee_id=row['mentee_id'],
            mentor_id=row['mentor_id'], step=row['step'], value=programme.STEPS[row['step']]),
            "info")
    back = request.form.get("next")
    if back == "partnership":
        return redirect(url_for("programme.partnership", name=name, partnership_id=partnership_id))
    return redirect(url_for("programme.dashboard", name=name, _anchor="partnerships"))


def _form_fields(kind: str, values: dict[str, str]) -> dict:
    """What the record form template needs: the kind, its fields and the values to show,
    with room for ACTIVITY_ROWS more activities."""
    spec = RECORDS[kind]
    n_activities = len({k.split("-")[1] for k in values if k.startswith("activity-")})
    return {"spec": spec, "values": values, "activity_rows": range(n_activities + ACTIVITY_ROWS)}


def _form_values() -> dict[str, str]:
    return {k: v for k, v in request.form.items() if k not in ("csrf_token", "kind", "topic")}


def _form_topic() -> str | None:
    """The record's topic from the form: empty for the whole partnership."""
    return request.form.get("topic", "").strip() or None


@bp.route("/networks/<name>/partnerships/<int:partnership_id>/records/new",
          methods=["GET", "POST"])
@role_required()
def new_record(name: str, partnership_id: int):
    _partnership(name, partnership_id)
    kind = request.values.get("kind", "")
    if kind not in RECORDS:
        abort(404)
    if request.method == "POST":
        return _save_new(name, partnership_id, kind)
    p = programme.partnership(db(), partnership_id)
    values = {RECORDS[kind].date_field: dt.date.today().isoformat()}
    return render_template("record_form.html", net=name, p=p, topic=request.args.get("topic"),
                           **_form_fields(kind, values))


@role_required("facilitator")
def _save_new(name: str, partnership_id: int, kind: str):
    info = programme.add_record(db(), partnership_id, kind, _form_values(), g.user["username"],
                                _form_topic())
    flash(programme.record_saved(RECORDS[kind].title, info), "info")
    return redirect(url_for("programme.partnership", name=name, partnership_id=partnership_id,
                            _anchor=f"record-{info['record']}"))


@bp.route("/networks/<name>/records/<int:record_id>/edit", methods=["GET", "POST"])
@role_required()
def edit_record(name: str, record_id: int):
    rec = _record(name, record_id)
    if request.method == "POST":
        return _save_edit(name, rec)
    p = programme.partnership(db(), rec["partnership_id"])
    return render_template("record_form.html", net=name, p=p, record=rec, topic=rec["topic_key"],
                           **_form_fields(rec["kind"], as_form(rec["kind"], rec["fields"])))


@role_required("facilitator")
def _save_edit(name: str, rec: dict):
    programme.update_record(db(), rec["id"], _form_values(), g.user["username"], _form_topic())
    flash(_("{title} saved.", title=RECORDS[rec['kind']].title), "info")
    return redirect(url_for("programme.partnership", name=name,
                            partnership_id=rec["partnership_id"], _anchor=f"record-{rec['id']}"))


@bp.route("/networks/<name>/records/<int:record_id>/delete", methods=["GET", "POST"])
@role_required("facilitator")
def delete_record(name: str, record_id: int):
    """Asks first: the page says what would go, and only its own button deletes."""
    rec = _record(name, record_id)
    if request.method == "GET" or request.form.get("confirm") != "yes":
        return render_template("confirm_delete.html", net=name, record=rec,
                               title=RECORDS[rec["kind"]].title)
    programme.delete_record(db(), record_id)
    flash(_("{title} of {dated} deleted.", title=RECORDS[rec['kind']].title, dated=rec['dated']),
          "info")
    return redirect(url_for("programme.partnership", name=name,
                            partnership_id=rec["partnership_id"]))


def _event(name: str, event_id: int):
    check_network(name)
    try:
        return services.events.event(db(), name, event_id)
    except NotFoundError:
        abort(404)


def _event_form(name: str, event=None, values=None, topics=(), partnerships=(), others="",
                problems=()):
    data = services.load(db(), name)
    return render_template(
        "event_form.html", net=name, spec=NETWORK_EVENT, event=event, problems=problems,
        values=values if values is not None else
        (as_form(NETWORK_EVENT, event.fields()) if event else
         {"held_on": dt.date.today().isoformat()}),
        topics=data.topics, chosen_topics=set(topics or (event.topics if event else ())),
        partnerships=programme.partnerships(db(), name),
        chosen_partnerships={int(p) for p in partnerships} if partnerships else
        set(event.partnerships if event else ()), other_institutions=others)


def _attending_alone(event) -> str:
    """The institutions of an event that came without a partnership, a line each."""
    return "\n".join(a.institution_id for a in event.attendance if a.partnership_id is None)


@bp.route("/networks/<name>/events/new", methods=["GET", "POST"])
@role_required()
def new_event(name: str):
    check_network(name)
    if request.method == "POST":
        return _save_event(name, None)
    return _event_form(name)


@bp.route("/networks/<name>/events/<int:event_id>/edit", methods=["GET", "POST"])
@role_required()
def edit_event(name: str, event_id: int):
    event = _event(name, event_id)
    if request.method == "POST":
        return _save_event(name, event_id)
    return _event_form(name, event, others=_attending_alone(event))


@role_required("facilitator")
def _save_event(name: str, event_id: int | None):
    form = request.form
    wanted = [p for p in form.getlist("partnership") if p.isdecimal()]
    try:
        saved = services.events.save_event(
            db(), name, {f.name: form.get(f.name, "") for f in NETWORK_EVENT.fields},
            [line for line in form.get("institutions", "").splitlines() if line.strip()],
            [int(p) for p in wanted], form.getlist("topic"), g.user["username"], event_id)
    except InputError as exc:       # the form again, as typed, with every problem
        event = _event(name, event_id) if event_id else None
        return _event_form(name, event, {f.name: form.get(f.name,
                                                          "") for f in NETWORK_EVENT.fields},
                           form.getlist("topic"), wanted, form.get("institutions", ""),
                           exc.problems), 400
    flash(_("Learning event saved: {title}, {isoformat}, {n} institutions and {n2} "
            "partnerships attending.", title=saved.title, isoformat=saved.held_on.isoformat(),
            n=len(saved.institutions), n2=len(saved.partnerships)), "info")
    return redirect(url_for("programme.dashboard", name=name, _anchor=f"event-{saved.id}"))


@bp.route("/networks/<name>/events/<int:event_id>/delete", methods=["POST"])
@role_required("facilitator")
def delete_event(name: str, event_id: int):
    event = _event(name, event_id)
    if request.form.get("confirm") != "yes":
        flash(_("Not deleted: tick the box to confirm."), "error")
        return redirect(url_for("programme.edit_event", name=name, event_id=event_id))
    services.events.delete_event(db(), name, event_id)
    flash(_("Learning event {title} of {isoformat} deleted.", title=event.title,
            isoformat=event.held_on.isoformat()), "info")
    return redirect(url_for("programme.dashboard", name=name, _anchor="events"))


@bp.route("/networks/<name>/programme/records.xlsx")
@role_required()
def export(name: str):
    check_network(name)
    with tempfile.TemporaryDirectory() as tmp:
        out = programme.export_records(db(), name, "xlsx", Path(tmp) / "records.xlsx",
                                       current())
        data = out.read_bytes()
    return send_file(BytesIO(data), as_attachment=True, download_name=f"{name}-partnerships.xlsx",
                     mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


@bp.route("/networks/<name>/rerun", methods=["POST"])
@role_required("facilitator")
def rerun_round(name: str):
    """A rerun on new scores, with the form's continuity weight and cap on changes."""
    check_network(name)
    values = {k: request.form[k] for k in ("weight_continuity", "max_changes")
              if request.form.get(k, "").strip()}
    period, options = request.form.get("period") or None, options_from(values)
    keep = request.form.get("keep_from_step", str(KEEP_FROM_STEP))
    if not keep.isdecimal() or int(keep) not in STEPS:
        raise InputError(Problem("", None, None, "keep_from_step",
                                 _("{keep!r} is not a step of the cycle", keep=keep),
                                 _("choose a step from the list")))
    args = (name, period, options, g.user["username"], int(keep))
    job = as_job(name, services.institution_count(db(), name),
                 _("Rerunning {network} on new scores", network=name), "rerun_round", args)
    if job is not None:
        return job
    info = services.rerun_round(db(), *args)
    previous = info.summary.get("previous", {})
    closed = len(info.summary["partnerships"]["closed"])
    flash(_("Run {run} on {period} scores: {locked} pairs of partnerships locked (from step "
            "{step}, {step_name}), {continuing} others with the continuity bonus, {closed} closed "
            "by their review left out; {matched} pairs, {kept} of the {published} published "
            "pairs kept.", run=info.id, period=info.period, locked=info.kept_locked, step=keep,
            step_name=STEPS[int(keep)], continuing=info.continuing, closed=closed,
            matched=info.matched, kept=previous.get("kept", 0),
            published=previous.get("pairs", 0)), "info")
    return redirect(url_for("runs.results", run_id=info.id))
