"""Gap analysis and focus selection: the heatmap, one institution's page, and the focus
form a facilitator fills in for the whole room."""

from __future__ import annotations

from flask import Blueprint, current_app, g, redirect, render_template, request, url_for

from tpn import services
from tpn.i18n import _, join, say
from tpn.matching import MatchOptions
from tpn.tabular.writer import number_text

from . import charts, db, in_background
from .auth import check_network, role_required
from .languages import flash
from .paging import matches_words, page_of

bp = Blueprint("gaps", __name__)


def init_app(app) -> None:
    app.register_blueprint(bp)


def _period() -> str | None:
    return request.args.get("period") or None


@bp.route("/networks/<name>/gaps")
@role_required()
def heatmap(name: str):
    check_network(name)
    table = services.gap_table(db(), name, _period())
    kinds = sorted({r["institution"].kind for r in table["rows"]})
    regions = sorted({r["institution"].region for r in table["rows"] if r["institution"].region})
    kind, region = request.args.get("kind", ""), request.args.get("region", "")
    chosen = sorted((r for r in table["rows"]
                     if (not kind or r["institution"].kind == kind)
                     and (not region or r["institution"].region == region)
                     and matches_words(r["institution"].name, r["institution"].id)),
                    key=lambda r: (r["institution"].kind, r["institution"].name.casefold()))
    page = page_of(len(chosen))
    shown = chosen[page["start"]:page["end"]]
    # One table per kind, with the topics that apply to it: percentiles compare within a
    # kind, so that is how the room should read them.
    sections = []
    for k in sorted({r["institution"].kind for r in shown}):
        rows = [r for r in shown if r["institution"].kind == k]
        columns = [n for n in range(len(table["topics"]))
                   if any(r["cells"][n] is not None for r in rows)]
        sections.append({"kind": k, "rows": rows, "columns": columns})
    return render_template("gaps.html", net=name, table=table, kinds=kinds, kind=kind,
                           regions=regions, region=region, page=page,
                           sections=sections, periods=table["periods"])


@bp.route("/networks/<name>/institutions/<key>", methods=["GET", "POST"])
@role_required()
def institution(name: str, key: str):
    check_network(name)
    if request.method == "POST":
        return _save_institution(name, key)
    profile = services.institution_profile(db(), name, key, _period())
    for t in profile["topics"]:
        t["strip"] = charts.score_strip(t["score"], t["peers"], t["benchmark"], t["target"],
                                        t["topic"].direction)
    mine = [x for x in services.programme.partnerships(db(), name, ended=True)
            if key in (x["mentee_id"], x["mentor_id"])]
    attended = services.events.attended_by(services.events.events(db(), name), institution=key)
    return render_template("institution.html", net=name, p=profile, partnerships=mine,
                           events=attended, label=services.labels(db(), name),
                           all_topics=services.load(db(), name).topics,
                           size_text=number_text(profile["institution"].size),
                           topic_names={t["topic"].id: t["topic"].label
                                        for t in profile["topics"]})


EDITABLE = ("name", "kind", "region", "capacity", "size")


@role_required("facilitator")
def _save_institution(name: str, key: str):
    """The fields a facilitator changed (the others stay as they are), with history."""
    current = services.institution_profile(db(), name, key)["institution"]
    shown = {"name": current.name, "kind": current.kind, "region": current.region or "",
             "capacity": "" if current.capacity is None else str(current.capacity),
             "size": number_text(current.size)}
    changes = {f: request.form[f].strip() for f in EDITABLE
               if f in request.form and request.form[f].strip() != shown[f]}
    if "partner_fields" in request.form:        # the external partner's part of the form
        external = "yes" if request.form.get("external") == "yes" else "no"
        offers = ";".join(sorted(request.form.getlist("mentors_on")))
        if external != ("yes" if current.external else "no"):
            changes["external"] = external
        if offers != ";".join(current.mentors_on):
            changes["mentors_on"] = offers
    if changes:
        services.set_fields(db(), name, "institution", key, changes, g.user["username"])
        flash(_("Saved for {name}: {changes}.", name=changes.get("name", current.name),
                changes=join((join([f, v or _("(empty)")], " ") for f, v in changes.items()),
                             ", ")), "info")
    else:
        flash(_("Nothing changed."), "info")
    return redirect(url_for("gaps.institution", name=name, key=key))


@bp.route("/networks/<name>/focus", methods=["GET", "POST"])
@role_required()
def focus(name: str):
    check_network(name)
    slots = current_app.config["FOCUS_TOPICS"]
    if request.method == "POST":
        return _save_focus(name, slots)
    data = services.load(db(), name)
    chosen: dict[str, list[str]] = {}
    for f in sorted(data.focus, key=lambda f: (f.institution_id, f.priority, f.topic_id)):
        chosen.setdefault(f.institution_id, []).append(f.topic_id)
    kind, region = request.args.get("kind", ""), request.args.get("region", "")
    institutions = sorted((i for i in data.institutions
                           if (not kind or i.kind == kind) and (not region or i.region == region)
                           and matches_words(i.name, i.id)),
                          key=lambda i: (i.kind, i.name.casefold(), i.id))
    page = page_of(len(institutions), default=50)
    shown = institutions[page["start"]:page["end"]]
    suggestions = _suggestions(name, slots, {i.id for i in shown}, data) \
        if data.snapshots else {}
    shown_text = topic_texts(data.topics)
    # One list of topics per kind on the page; every box of that kind searches it.
    lists = {i.kind: sorted((shown_text[t.id] for t in data.topics if t.applies_to(i.kind)),
                            key=str.casefold) for i in shown}
    rows = [{"institution": i, "chosen": [shown_text.get(t, t) for t in chosen.get(i.id, [])]
             + [""] * slots, "list": list(lists).index(i.kind),
             "suggested": suggestions.get(i.id, [])} for i in shown]
    return render_template("focus.html", net=name, rows=rows, slots=slots, page=page,
                           lists=list(lists.values()),
                           kinds=sorted({i.kind for i in data.institutions}), kind=kind,
                           regions=sorted({i.region for i in data.institutions if i.region}),
                           region=region, topic_names={t.id: t.label for t in data.topics})


def topic_texts(topics) -> dict[str, str]:
    """What a focus box shows for each topic: its full label, with its id where two
    topics share a label (the text typed or picked is read back by :func:`topic_of`)."""
    counts: dict[str, int] = {}
    for t in topics:
        counts[t.label.casefold()] = counts.get(t.label.casefold(), 0) + 1
    return {t.id: t.label if counts[t.label.casefold()] == 1 else f"{t.label} ({t.id})"
            for t in topics}


def topic_of(text: str, by_text: dict[str, str]) -> str:
    """The topic id a focus box holds: its shown text (any case) or the id itself; other
    text is passed on, to be reported as no topic."""
    text = text.strip()
    return by_text.get(text.casefold(), text)


def _suggestions(name: str, slots: int, institutions, data=None) -> dict[str, list]:
    out: dict[str, list] = {}
    for s in services.suggest_focus(db(), name, slots, MatchOptions(),
                                    institutions=institutions, data=data):
        out.setdefault(s.institution_id, []).append(s)
    return out


@role_required("facilitator")
def _save_focus(name: str, slots: int):
    form = request.form
    # Rows are inst-N with focus-N-S beside them; a key that is not so is ignored.
    rows = sorted((int(k[5:]), form[k]) for k in form
                  if k.startswith("inst-") and k[5:].isdecimal() and len(k) < 12)
    ids = [inst for _, inst in rows]
    numbers = [n for n, _ in rows]
    action = form.get("action", "save")
    if action in ("suggest-selected", "suggest-empty"):
        suggestions = _suggestions(name, slots, set(ids))
        if action == "suggest-selected":
            targets = [i for k, i in zip(numbers, ids) if form.get(f"accept-{k}") == "yes"]
        else:
            targets = [i for k, i in zip(numbers, ids)
                       if not any(form.get(f"focus-{k}-{s}") for s in range(1, slots + 1))]
        choices = {i: [(s.topic_id, s.rank) for s in suggestions.get(i, [])] for i in targets}
        if not choices:
            flash(_("No institution was selected for suggestions."), "warning")
            return redirect(request.full_path.rstrip("?"))
    else:
        # "save-row-K" saves row K alone (its own Save button); "save", every row shown.
        only = action[len("save-row-"):] if action.startswith("save-row-") else None
        choices = {}
        by_text = {shown.casefold(): t for t, shown in
                   topic_texts(services.load(db(), name).topics).items()}
        for k, inst in zip(numbers, ids):
            if only is not None and str(k) != only:
                continue
            topics = [topic_of(form.get(f"focus-{k}-{s}", ""), by_text)
                      for s in range(1, slots + 1)]
            choices[inst] = [(t, n) for n, t in enumerate((t for t in topics if t), start=1)]
    total = services.replace_focus(db(), name, choices, g.user["username"])
    if len(choices) == 1:
        [(inst, chosen)] = choices.items()
        label = services.labels(db(), name)
        topics = ", ".join(label(t, topic=True) for t, _n in chosen)
        message = (_("Saved for {name}: {topics}.", name=label(inst), topics=topics) if topics
                   else _("Saved for {name}: no focus topic.", name=label(inst)))
    else:
        message = _("Focus saved for {n} institutions: {total} topics chosen in all.",
                    n=len(choices), total=total)
    if in_background():
        return {"message": say(message)}
    flash(message, "info")
    return redirect(request.full_path.rstrip("?"))
