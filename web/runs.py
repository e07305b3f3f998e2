"""Match setup, results, review (lock, exclude, swap, rerun), publish, exports and the
printable pair cards."""

from __future__ import annotations

import re
import tempfile
from io import BytesIO
from pathlib import Path

from flask import (Blueprint, abort, g, redirect, render_template, request, send_file,
                   url_for)

from tpn import services
from tpn.errors import InputError, Problem
from tpn.i18n import _, current, say
from tpn.matching import MatchOptions
from tpn.matching.options import OptionsError
from tpn.storage.stored import in_force

from . import charts, db, in_background
from .auth import can, check_network, check_run, is_contact, role_required, shows_contacts
from .jobs import as_job
from .languages import flash
from .paging import SHOWN, matches_words, page_of

bp = Blueprint("runs", __name__)

# The options a facilitator changes, in plain words; the others are under "advanced".
PLAIN = {
    "mentor_capacity": _("How many mentees one mentor takes"),
    "top_share": _("Who can mentor: the best share of each kind (0.3 = the best 30 %)"),
    "same_region": _("Pair only institutions of the same region"),
    "max_distance_km": _("Never pair institutions further apart than (km)"),
    "cross_kind": _("Let a hospital mentor a health centre (mentors of another kind)"),
}
GROUP_TITLES = {"rules": _("Eligibility rules"), "capacity": _("Capacity"),
                "cost": _("Cost weights"), "solver": _("Solver"),
                "data quality": _("Data quality"), "output": _("Explanations")}
SORTS = {"mentee": "mentee_name", "mentor": "mentor_name", "topic": "topic_id",
         "priority": "priority", "gain": "gain", "distance": "distance_km", "cost": "cost"}
NUMERIC = {"priority", "gain", "distance_km", "cost"}


def init_app(app) -> None:
    app.register_blueprint(bp)


def _run(run_id: int):
    run = services.show_run(db(), run_id)
    check_run(run)
    return run


def _run_and_institutions(run_id: int):
    """A run, its network (with the run's round) and the network's institutions by id."""
    run = _run(run_id)
    network = services.load(db(), run.network, run.round)
    return run, network, {i.id: i for i in network.institutions}


# --- setup ---------------------------------------------------------------------------------


@bp.route("/networks/<name>/match", methods=["GET", "POST"])
@role_required()
def setup(name: str):
    check_network(name)
    if request.method == "POST":
        return _start(name)
    info = services.overview(db(), name)
    main, groups = [], {}
    for f in MatchOptions.fields():
        field = {"name": f.name, "default": f.default, "help": f.metadata["help"],
                 "label": PLAIN.get(f.name, f.name),
                 "choices": f.metadata.get("choices"), "bool": str(f.type).startswith("bool")}
        if f.name in PLAIN:
            main.append(field)
        else:
            groups.setdefault(GROUP_TITLES[f.metadata["group"]], []).append(field)
    main.sort(key=lambda f: list(PLAIN).index(f["name"]))
    return render_template("match.html", net=info, main=main, groups=groups)


def options_from(values: dict[str, str]) -> MatchOptions:
    """Match options from a form's text, every mistake as a problem of the page."""
    try:
        return MatchOptions.from_mapping(values)
    except OptionsError as exc:
        raise InputError([Problem("", None, None, None, part, _("correct the option"))
                          for part in exc.problems]) from None


@role_required("facilitator")
def _start(name: str):
    values = {}
    for f in MatchOptions.fields():
        if str(f.type).startswith("bool"):
            values[f.name] = "yes" if request.form.get(f.name) == "yes" else "no"
        elif f.name in request.form:
            values[f.name] = request.form[f.name]
    options = options_from(values)
    period = request.form.get("period") or None
    job = as_job(name, services.institution_count(db(), name),
                 _("Matching {network}", network=name), "match",
                 (name, period, options, g.user["username"]))
    if job is not None:
        return job
    info = services.run_match(db(), name, period, options, g.user["username"])
    flash(_("Run {id}: {matched} pairs, {unmatched} requests without a mentor. "
            "Review them, then publish.", id=info.id, matched=info.matched,
            unmatched=info.unmatched), "info")
    return redirect(url_for("runs.results", run_id=info.id))


# --- results and review ----------------------------------------------------------------------


def _alternatives(text: str) -> list[dict]:
    out = []
    for part in filter(None, text.split("; ")):
        mentor, _sep, reason = part.partition(": ")
        out.append({"mentor_id": mentor, "reason": reason})
    return out


DRAWN = 300         # more pairs than this draw a hairball: region-to-region flows instead


def _region_flows(pairs: list[dict], insts: dict) -> list[tuple[str, str, int]]:
    """(mentors' region, mentees' region, pairs), most pairs first."""
    flows: dict[tuple[str, str], int] = {}
    for p in pairs:
        key = (insts[p["mentor_id"]].region or _("(no region)"),
               insts[p["mentee_id"]].region or _("(no region)"))
        flows[key] = flows.get(key, 0) + 1
    return sorted(((a, b, n) for (a, b), n in flows.items()), key=lambda f: (-f[2], f[0], f[1]))


def _sorted_filtered(pairs: list[dict], insts: dict) -> list[dict]:
    args = request.args
    kind, topic, region = args.get("kind", ""), args.get("topic", ""), args.get("region", "")
    rows = [p for p in pairs
            if (not kind or insts[p["mentee_id"]].kind == kind)
            and (not topic or p["topic_id"] == topic)
            and (not region or insts[p["mentee_id"]].region == region)
            and matches_words(p["mentee_name"], p["mentor_name"])]
    key = SORTS.get(args.get("sort", "mentee"), "mentee_name")
    if key in NUMERIC:
        rows.sort(key=lambda p: (float(p[key]) if p[key] != "" else float("inf"),
                                 p["mentee_name"], p["topic_id"]))
    else:
        rows.sort(key=lambda p: (str(p[key]).casefold(), p["mentee_name"], p["topic_id"]))
    if args.get("desc") == "1":
        rows.reverse()
    return rows


@bp.route("/runs/<int:run_id>")
@role_required()
def results(run_id: int):
    run, network, insts = _run_and_institutions(run_id)
    names = {i.id: i.name for i in network.institutions}
    for p in run.pairs:
        p["alternative_list"] = _alternatives(p["alternatives"])
    capacity = run.options["mentor_capacity"]
    loads: dict[str, int] = {}
    for p in run.pairs:
        loads[p["mentor_id"]] = loads.get(p["mentor_id"], 0) + 1
    load_rows = sorted(({"institution": insts[m], "load": n,
                         "capacity": insts[m].capacity if insts[m].capacity is not None
                         else capacity} for m, n in loads.items()),
                       key=lambda r: (-r["load"], r["institution"].name))
    diff = services.diff_runs(db(), run.parent_id, run_id, network) if run.parent_id else None
    rows = _sorted_filtered(run.pairs, insts)
    page = page_of(len(rows))
    shown = rows[page["start"]:page["end"]]
    involved = {p[k] for p in shown for k in ("mentee_id", "mentor_id")}
    return render_template(
        "results.html", run=run, net=run.network, pairs=shown, matching=len(rows), page=page,
        insts=insts, names=names, loads=load_rows[:30], more_loads=max(0, len(load_rows) - 30),
        diff=diff, shown_limit=SHOWN, all_unmatched=request.args.get("unmatched") == "all",
        metrics=services.run_metrics(db(), run_id, network),
        edits=(edits := services.run_edits(db(), run_id)),
        in_force={e.id for e in in_force(edits)},
        fixes=_capacity_fixes(run.unmatched, network),
        kinds=sorted({i.kind for i in network.institutions}),
        regions=sorted({i.region for i in network.institutions if i.region}),
        topics=sorted({p["topic_id"] for p in run.pairs}),
        topic_names={t.id: t.label for t in network.topics},
        units={t.id: (" " + t.unit if t.unit and t.unit != "%" else t.unit or "")
               for t in network.topics},
        drawing=charts.network_drawing(shown, names) if len(shown) <= DRAWN else None,
        flows=_region_flows(shown, insts) if len(shown) > DRAWN else [],
        map=charts.map_drawing([i for i in network.institutions if i.id in involved], shown),
        editable=run.status == "draft" and can("facilitator"), args=request.args,
        acceptance=services.invitations.acceptance(db(), run_id))


@bp.route("/runs/<int:run_id>/edit", methods=["POST"])
@role_required("facilitator")
def edit(run_id: int):
    run = _run(run_id)
    form = request.form
    version = int(form["version"]) if form.get("version", "").isdecimal() else None
    action = form.get("action", "")
    mentor = form.get("alternative", "") if action == "swap" else form.get("current", "")
    new_version = services.edit_draft(db(), run_id, action, form.get("mentee", ""),
                                      form.get("topic", ""), mentor, g.user["username"],
                                      form.get("note", ""), version)
    label = services.labels(db(), run.network)
    said = dict(mentor=label(mentor), mentee=label(form.get("mentee", "")),
                topic=label(form.get("topic", ""), topic=True))
    message = {
        "lock": _("Locked {mentor} for {mentee} on {topic}. Rerun to apply the edits (or undo "
                  "the last one).", **said),
        "exclude": _("Excluded {mentor} for {mentee} on {topic}. Rerun to apply the edits (or "
                     "undo the last one).", **said),
    }.get(action) or _("Swapped to {mentor} for {mentee} on {topic}. Rerun to apply the edits "
                       "(or undo the last one).", **said)
    if in_background():
        edits = len(in_force(services.run_edits(db(), run_id)))
        return {"message": say(message), "version": new_version, "edits": edits}
    flash(message, "info")
    return redirect(url_for("runs.results", run_id=run_id, _anchor="review"))


@bp.route("/runs/<int:run_id>/undo", methods=["POST"])
@role_required("facilitator")
def undo(run_id: int):
    run = _run(run_id)
    version = request.form.get("version", "")
    taken = services.undo_edit(db(), run_id, g.user["username"],
                               int(version) if version.isdecimal() else None)
    label = services.labels(db(), run.network)
    flash(_("Undone: the {action} of {label} for {label2} on {label3}.", action=taken.action,
            label=label(taken.mentor_id), label2=label(taken.mentee_id),
            label3=label(taken.topic_id, topic=True)), "info")
    return redirect(url_for("runs.results", run_id=run_id, _anchor="review"))


FIX = re.compile(r"raise the capacity of (?P<name>.+) from (?P<now>\d+) to (?P<new>\d+): the "
                 r"extra place would serve this request")


def _capacity_fixes(unmatched: list[dict], network) -> dict[tuple[str, str], dict]:
    """Per unmatched request, the capacity raise its fix line names, when the line is a
    plain raise and the name is one institution's (the facilitator can then apply it)."""
    by_name: dict[str, list] = {}
    for i in network.institutions:
        by_name.setdefault(i.name, []).append(i)
    out = {}
    for u in unmatched:
        found = FIX.match(u["fix"])
        if found and len(by_name.get(found["name"], [])) == 1:
            inst = by_name[found["name"]][0]
            out[(u["institution_id"], u["topic_id"])] = {
                "institution": inst, "now": int(found["now"]), "new": int(found["new"])}
    return out


@bp.route("/runs/<int:run_id>/fix", methods=["GET", "POST"])
@role_required("facilitator")
def apply_fix(run_id: int):
    """A fix line's capacity raise, confirmed, then the draft rerun with it."""
    run, network, _insts = _run_and_institutions(run_id)
    key = (request.values.get("institution", ""), request.values.get("topic", ""))
    fix = _capacity_fixes([u for u in run.unmatched
                           if (u["institution_id"], u["topic_id"]) == key], network).get(key)
    if fix is None or run.status != "draft":
        raise InputError(Problem("", None, None, None,
                                 _("this request has no capacity raise to apply"),
                                 _("see the fix line of the request")))
    if request.method == "GET" or request.form.get("confirm") != "yes":
        label = services.labels(db(), run.network)
        return render_template("confirm_fix.html", run=run, fix=fix, key=key,
                               mentee=label(key[0]), topic=label(key[1], topic=True))
    services.set_fields(db(), run.network, "institution", fix["institution"].id,
                        {"capacity": str(fix["new"])}, g.user["username"])
    flash(_("The capacity of {name} is now {new} (was {now}); the draft was rerun "
            "with it.", name=fix['institution'].name, new=fix['new'], now=fix['now']), "info")
    return rerun(run_id)


@bp.route("/runs/<int:run_id>/rerun", methods=["POST"])
@role_required("facilitator")
def rerun(run_id: int):
    run = _run(run_id)
    job = as_job(run.network, services.institution_count(db(), run.network),
                 _("Rerunning run {run} with its edits", run=run_id), "rerun",
                 (run_id, g.user["username"]))
    if job is not None:
        return job
    info = services.rerun(db(), run_id, g.user["username"])
    rejected = info.rejected
    flash(_("Run {run} (rerun of {parent}, edits kept): {matched} pairs, {unmatched} without a "
            "mentor; {rejected} lock(s) could not be kept, see below.", run=info.id,
            parent=run_id, matched=info.matched, unmatched=info.unmatched,
            rejected=len(rejected)) if rejected else
          _("Run {run} (rerun of {parent}, edits kept): {matched} pairs, {unmatched} without a "
            "mentor.", run=info.id, parent=run_id, matched=info.matched,
            unmatched=info.unmatched), "warning" if rejected else "info")
    flash(_("The pairs of run {parent} were kept wherever the edits allowed; 'Changes since run "
            "{parent}' says why each other one moved.", parent=run_id), "info")
    return redirect(url_for("runs.results", run_id=info.id))


@bp.route("/runs/<int:run_id>/publish", methods=["POST"])
@role_required("facilitator")
def publish(run_id: int):
    _run(run_id)
    version = request.form.get("version", "")
    info = services.publish(db(), run_id, g.user["username"],
                            int(version) if version.isdecimal() else None,
                            confirmed=request.form.get("confirm") == "yes")
    flash(_("Run {run_id} published: {pairs} pairs in {partnerships} partnerships "
            "({new} new, at step 1; {continued} continuing; {ended} ended).", run_id=run_id,
            pairs=info.pairs, partnerships=info.partnerships, new=info.new,
            continued=info.continued, ended=info.ended),
          "info")
    return redirect(url_for("runs.results", run_id=run_id))


# --- exports and cards ---------------------------------------------------------------------

EXPORTS = {"pairs.csv": ("csv", "pairs.csv", "text/csv"),
           "unmatched.csv": ("csv", "unmatched.csv", "text/csv"),
           "run.xlsx": ("xlsx", None,
                        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
           "run.json": ("json", None, "application/json")}


@bp.route("/runs/<int:run_id>/export/<filename>")
@role_required()
def export(run_id: int, filename: str):
    run = _run(run_id)
    if filename not in EXPORTS:
        abort(404)
    fmt, member, mimetype = EXPORTS[filename]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / ("run" if fmt == "csv" else filename)
        services.export_run(db(), run_id, fmt, out, current())
        data = (out / member if member else out).read_bytes()
    download = f"{run.network}-run{run_id}-{filename}"
    return send_file(BytesIO(data), mimetype=mimetype, as_attachment=True,
                     download_name=download)


@bp.route("/runs/<int:run_id>/cards")
@role_required()
def cards(run_id: int):
    run, network, insts = _run_and_institutions(run_id)
    topics = {t.id: t for t in network.topics}

    def contacts(inst):
        if not shows_contacts():
            return []
        return [(k.replace("_", " "), v) for k, v in sorted(inst.attributes.items())
                if is_contact(k) and v]

    topic, region = request.args.get("topic", ""), request.args.get("region", "")
    chosen = sorted((p for p in run.pairs
                     if (not topic or p["topic_id"] == topic)
                     and (not region or insts[p["mentee_id"]].region == region)
                     and matches_words(p["mentee_name"], p["mentor_name"])),
                    key=lambda p: (p["mentee_name"], p["topic_id"]))
    page = page_of(len(chosen))
    cards_ = [{"pair": p, "mentee": insts[p["mentee_id"]], "mentor": insts[p["mentor_id"]],
               "topic": topics[p["topic_id"]], "mentee_contacts": contacts(insts[p["mentee_id"]]),
               "mentor_contacts": contacts(insts[p["mentor_id"]])}
              for p in chosen[page["start"]:page["end"]]]
    return render_template("cards.html", run=run, net=run.network, cards=cards_, page=page,
                           topics=sorted(network.topics, key=lambda t: t.label), topic=topic,
                           regions=sorted({i.region for i in network.institutions if i.region}),
                           region=region)
