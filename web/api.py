"""The JSON API over the same services as the pages, described by ``/api/v1/openapi.json``.

Sign in with the app's session (writes then need the ``X-CSRFToken`` header, the token
from any page) or with HTTP Basic auth for scripts. Writes take ``application/json`` only,
which a cross-site form cannot send. Errors are ``{"error": ..., "problems": [...]}``
with the same problems (file, sheet, row, column, message, fix) the CLI prints.
"""

from __future__ import annotations

from dataclasses import asdict

from flask import Blueprint, current_app, g, request, url_for
from flask_wtf.csrf import validate_csrf
from wtforms.validators import ValidationError

from tpn import __version__, services
from tpn.i18n import _
from tpn.services import invitations, programme
from tpn.cycle import NETWORK_EVENT, RECORDS
from tpn.errors import InputError, Problem
from tpn.matching import MatchOptions

from . import csrf, db
from .auth import (account, check_network, check_run, is_contact, role_required, shown_runs,
                   shows_contacts, sign_in, too_many, visible_networks)

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def init_app(app) -> None:
    csrf.exempt(bp)            # checked below: JSON only, and the token for session writes
    app.register_blueprint(bp)


@bp.before_request
def api_auth():
    auth = request.authorization
    if auth is not None and auth.type == "basic":
        found = sign_in(auth.username or "", auth.password or "")
        if isinstance(found, float):
            return {"error": too_many(found)}, 429, {"Retry-After": str(int(found) + 1)}
        if found is None:
            return {"error": "wrong user name or password"}, 401, \
                {"WWW-Authenticate": 'Basic realm="tpn"'}
        g.user = account(found)
    elif request.method not in ("GET", "HEAD", "OPTIONS") and g.user is not None:
        try:
            validate_csrf(request.headers.get("X-CSRFToken", ""))
        except ValidationError as exc:
            return {"error": f"CSRF check failed ({exc}); send the X-CSRFToken header",
                    "problems": []}, 400
    if request.method in ("POST", "PUT") and not request.is_json:
        return {"error": "send the body as application/json", "problems": []}, 415


def _body() -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InputError(Problem("", None, None, None, _("the body is not a JSON object"),
                                 _("send a JSON object")))
    return body


def _institution(i) -> dict:
    return {"id": i.id, "name": i.name, "kind": i.kind, "region": i.region,
            "latitude": i.latitude, "longitude": i.longitude, "size": i.size,
            "capacity": i.capacity,
            "attributes": {k: v for k, v in i.attributes.items()
                           if shows_contacts() or not is_contact(k)}}


def _run_public(run) -> dict:
    keep = ("id", "network", "period", "round", "status", "solver", "tpn_version",
            "input_hash", "options", "summary", "version", "parent_id", "created_by")
    out = {k: getattr(run, k) for k in keep}
    out["created_at"] = run.created_at.isoformat()
    return out


@bp.get("/networks")
@role_required()
def networks():
    names = visible_networks()
    return {"networks": [{"name": n, "url": url_for("api.network", name=n)} for n in names]}


@bp.get("/networks/<name>")
@role_required()
def network(name: str):
    check_network(name)
    info = services.overview(db(), name)
    info["runs"] = [{"id": r.id, "status": r.status, "period": r.period,
                     "summary": r.summary} for r in info["runs"]]
    return info


@bp.get("/networks/<name>/institutions")
@role_required()
def institutions(name: str):
    check_network(name)
    return {"institutions": [_institution(i) for i in services.load(db(), name).institutions]}


@bp.get("/networks/<name>/topics")
@role_required()
def topics(name: str):
    check_network(name)
    return {"topics": [{"id": t.id, "name": t.name, "direction": t.direction,
                        "kinds": sorted(t.kinds), "target": t.target, "unit": t.unit}
                       for t in services.load(db(), name).topics]}


@bp.get("/networks/<name>/snapshots")
@role_required()
def snapshots(name: str):
    check_network(name)
    return {"snapshots": [{"period": s.period, "scores": len(s.scores)}
                          for s in services.load(db(), name).snapshots]}


@bp.get("/networks/<name>/snapshots/<period>")
@role_required()
def snapshot(name: str, period: str):
    check_network(name)
    snap = services.load(db(), name).snapshot(period)
    return {"period": snap.period,
            "scores": [{"institution_id": i, "topic_id": t, "value": v}
                       for (i, t), v in sorted(snap.scores.items())]}


@bp.get("/networks/<name>/focus")
@role_required()
def focus(name: str):
    check_network(name)
    round_name = request.args.get("round", services.DEFAULT_ROUND)
    rows = services.focus(db(), name, round_name)
    return {"round": round_name,
            "focus": [{**asdict(r), "chosen_at": r.chosen_at.isoformat()} for r in rows]}


@bp.put("/networks/<name>/focus")
@role_required("facilitator")
def set_focus(name: str):
    body = _body()
    choices = body.get("choices")
    if not isinstance(choices, dict) or not all(isinstance(v, list) for v in choices.values()):
        raise InputError(Problem("", None, None, "choices",
                                 _("choices must map institution ids to lists of {topic_id, "
                                   "priority}"), _("see the OpenAPI document")))
    parsed = {}
    for inst, items in choices.items():
        try:
            parsed[inst] = [(str(x["topic_id"]), _whole(x.get("priority", n)))
                            for n, x in enumerate(items, start=1)]
        except (KeyError, TypeError, ValueError, AttributeError):
            raise InputError(Problem("", None, None, "choices",
                                     _("{inst}: each choice needs a topic_id and a whole-number "
                                       "priority", inst=inst),
                                     _("see the OpenAPI document"))) from None
    round_name = str(body.get("round", services.DEFAULT_ROUND))
    total = services.replace_focus(db(), name, parsed, g.user["username"], round_name)
    return {"round": round_name, "institutions": len(parsed), "focus": total}


def _whole(value) -> int:
    """A JSON whole number (1, not 1.5, true or "1e30")."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(value)
    return int(value)


@bp.get("/networks/<name>/runs")
@role_required()
def runs(name: str):
    check_network(name)
    return {"runs": [{"id": r.id, "status": r.status, "period": r.period,
                      "solver": r.solver, "summary": r.summary,
                      "created_by": r.created_by, "created_at": r.created_at.isoformat(),
                      "url": url_for("api.run", run_id=r.id)}
                     for r in shown_runs(services.runs(db(), name))]}


@bp.post("/networks/<name>/runs")
@role_required("facilitator")
def start_run(name: str):
    body = _body()
    try:
        options = MatchOptions.from_mapping(body.get("options") or {})
    except (ValueError, TypeError) as exc:
        raise InputError([Problem("", None, None, "options", part.strip(), _("correct the option"))
                          for part in str(exc).split(";")]) from None
    info = services.run_match(db(), name, body.get("period"), options, g.user["username"],
                              round_name=str(body.get("round", services.DEFAULT_ROUND)))
    return {**info.as_dict(), "url": url_for("api.run", run_id=info.id)}, 201


@bp.get("/runs/<int:run_id>")
@role_required()
def run(run_id: int):
    found = services.show_run(db(), run_id)
    check_run(found)
    metrics = asdict(services.run_metrics(db(), run_id))
    metrics["mutual_pairs"] = [list(p) for p in metrics["mutual_pairs"]]
    return {**_run_public(found), "network_metrics": metrics}


@bp.get("/runs/<int:run_id>/pairs")
@role_required()
def pairs(run_id: int):
    found = services.show_run(db(), run_id)
    check_run(found)
    return {"run": run_id, "pairs": found.pairs, "unmatched": found.unmatched}


@bp.post("/runs/<int:run_id>/publish")
@role_required("facilitator")
def publish(run_id: int):
    body = _body()
    return services.publish(db(), run_id, g.user["username"], body.get("version"),
                            confirmed=body.get("confirm") is True).as_dict()


def _partnership_public(p: dict) -> dict:
    keep = ("id", "mentee_id", "mentor_id", "topics", "mentee_name", "mentor_name",
            "topic_names", "step", "step_name", "run_id", "ended_run_id")
    out = {k: p.get(k) for k in keep}
    out.update(created_at=p["created_at"].isoformat(),
               ended_at=p["ended_at"].isoformat() if p["ended_at"] else None,
               url=url_for("api.partnership", name=p.get("network") or request.view_args["name"],
                           partnership_id=p["id"]))
    return out


@bp.get("/networks/<name>/partnerships")
@role_required()
def partnerships(name: str):
    check_network(name)
    ended = request.args.get("ended", "") in ("1", "true", "yes")
    return {"partnerships": [_partnership_public(p)
                             for p in programme.partnerships(db(), name, ended=ended)]}


@bp.get("/networks/<name>/partnerships/<int:partnership_id>")
@role_required()
def partnership(name: str, partnership_id: int):
    check_network(name)
    programme.check_in_network(db(), name, partnership_id)
    p = programme.partnership(db(), partnership_id)
    return {**_partnership_public(p), "scores": p["scores"], "overdue": p["overdue"],
            "missing": p["missing"],
            "records": [{"id": r["id"], "kind": r["kind"], "topic_id": r["topic_key"],
                         "dated": r["dated"].isoformat(),
                         "fields": r["fields"], "created_by": r["created_by"],
                         "updated_by": r["updated_by"], "updated_at": r["updated_at"].isoformat()}
                        for r in p["records"]]}


@bp.post("/networks/<name>/partnerships/<int:partnership_id>/records")
@role_required("facilitator")
def add_record(name: str, partnership_id: int):
    check_network(name)
    programme.check_in_network(db(), name, partnership_id)
    body = _body()
    fields = body.get("fields")
    if not isinstance(fields, dict):
        raise InputError(Problem("", None, None, "fields", _("fields is not a JSON object"),
                                 _("send the record's fields as an object of text values")))
    form = {k: "" if v is None else str(v) for k, v in fields.items() if k != "activities"}
    activities = fields.get("activities") or []
    if not isinstance(activities, list) or not all(isinstance(a, dict) for a in activities):
        raise InputError(Problem("", None, None, "activities",
                                 _("activities is not a list of objects"),
                                 _("send a list of {what, owner, due, done}")))
    for n, a in enumerate(activities):
        for part in ("what", "owner", "due", "done"):
            form[f"activity-{n}-{part}"] = str((a or {}).get(part) or "")
    topic = body.get("topic_id")
    info = programme.add_record(db(), partnership_id, str(body.get("kind", "")), form,
                                g.user["username"], None if topic in (None, "") else str(topic))
    return {**info, "url": url_for("api.partnership", name=name,
                                   partnership_id=partnership_id)}, 201


@bp.get("/networks/<name>/programme")
@role_required()
def dashboard(name: str):
    check_network(name)
    board = programme.dashboard(db(), name)
    return {**board, "by_step": {str(k): v for k, v in board["by_step"].items()},
            "partnerships": [{**_partnership_public(p), **{k: p[k] for k in (
                "visits_done", "visits_proposed", "learning_events", "records", "missing")}}
                for p in board["partnerships"]],
            "ended_partnerships": [{**_partnership_public(p), "records": p["records"]}
                                   for p in board["ended_partnerships"]],
            "overdue": [{**{k: a[k] for k in ("what", "owner", "due", "days_late")},
                         "partnership": a["partnership"]["id"]} for a in board["overdue"]],
            "network_events": [_event_public(e) for e in board["network_events"]]}


def _event_public(e) -> dict:
    return {"id": e.id, **e.fields(), "topics": list(e.topics),
            "attendance": [{"institution_id": a.institution_id,
                            "partnership": a.partnership_id} for a in e.attendance],
            "created_by": e.created_by, "updated_by": e.updated_by,
            "updated_at": e.updated_at.isoformat()}


@bp.get("/networks/<name>/events")
@role_required()
def events(name: str):
    check_network(name)
    return {"events": [_event_public(e) for e in services.events.events(db(), name)]}


@bp.post("/networks/<name>/events")
@role_required("facilitator")
def add_event(name: str):
    check_network(name)
    body = _body()
    lists = {}
    for key in ("topics", "institutions", "partnerships"):
        value = body.get(key) or []
        if not isinstance(value, list):
            raise InputError(Problem("", None, None, key, _("{key} is not a list", key=key),
                                     _("send a JSON list (see the OpenAPI document)")))
        lists[key] = value
    if not all(isinstance(p, int) for p in lists["partnerships"]):
        raise InputError(Problem("", None, None, "partnerships", _("partnerships are not ids"),
                                 _("send the partnerships' ids as whole numbers")))
    fields = {f.name: "" if body.get(f.name) is None else str(body.get(f.name))
              for f in NETWORK_EVENT.fields}
    saved = services.events.save_event(db(), name, fields, [str(i) for i in lists["institutions"]],
                                       lists["partnerships"], [str(t) for t in lists["topics"]],
                                       g.user["username"])
    return _event_public(saved), 201


# --- invitations: the facilitator's side (an account) and the institution's (its token) ----


def _invitation_public(i) -> dict:
    from .invitations import base_url

    return {"institution_id": i.institution_id, "round": i.round,
            "link": invitations.link(base_url(), i.token),
            "expires_at": i.expires_at.isoformat()}


def _answer_public(a) -> dict:
    return {"institution_id": a.institution_id, "round": a.round,
            "focus": [{"topic_id": f.topic_id, "preferred": list(f.preferred)} for f in a.focus],
            "capacity": a.capacity, "note": a.note, "answered_at": a.answered_at.isoformat(),
            "status": a.status}


@bp.get("/networks/<name>/invitations")
@role_required("facilitator")
def list_invitations(name: str):
    check_network(name)
    return {"invitations": [_invitation_public(i) for i in invitations.invitations(db(), name)]}


@bp.post("/networks/<name>/invitations")
@role_required("facilitator")
def create_invitations(name: str):
    check_network(name)
    body = _body()
    wanted = body.get("institutions")
    if wanted is not None and not (isinstance(wanted, list)
                                   and all(isinstance(x, str) for x in wanted)):
        raise InputError(Problem("", None, None, "institutions",
                                 _("institutions is not a list of ids"),
                                 _("send a list of institution ids, or leave it out")))
    days = body.get("days", invitations.INVITATION_DAYS)
    made = invitations.create(db(), name, wanted, days if isinstance(days, int) else 0,
                              g.user["username"])
    return {"invitations": [_invitation_public(i) for i in made]}, 201


@bp.get("/networks/<name>/answers")
@role_required("facilitator")
def answers(name: str):
    check_network(name)
    board = invitations.board(db(), name)
    return {"invited": len(board.invited), "answers": [_answer_public(a) for a in board.answers],
            "waiting": [i.institution_id for i in board.waiting],
            "closed_at": board.closed_at.isoformat() if board.closed_at else None}


@bp.post("/networks/<name>/answers/apply")
@role_required("facilitator")
def apply_answers(name: str):
    check_network(name)
    return asdict(invitations.apply(db(), name, g.user["username"]))


@bp.get("/invitations/<token>")
def invitation(token: str):
    from .invitations import checked

    checked(token)
    page = invitations.page(db(), token, current_app.config["FOCUS_TOPICS"])
    return {"institution": _institution(page.institution), "network": page.invitation.network,
            "round": page.invitation.round, "closed": page.closed, "max_focus": page.max_focus,
            "answer": _answer_public(page.answer) if page.answer else None,
            "eligible_mentors": {t: [m.id for m in ms] for t, ms in page.eligible.items()},
            "proposals": [{"run": p.run_id, "mentee_id": p.mentee_id, "topic_id": p.topic_id,
                           "why": p.why, "response": p.response.response if p.response
                           else None} for p in page.proposals]}


@bp.post("/invitations/<token>/answer")
def answer(token: str):
    from .invitations import checked, written

    checked(token)
    written(token)
    body = _body()
    focus = body.get("focus") or []
    if not isinstance(focus, list) or not all(isinstance(f, dict) for f in focus):
        raise InputError(Problem("", None, None, "focus", _("focus is not a list of objects"),
                                 _("send [{topic_id, preferred: [mentor ids]}], most important "
                                   "first")))
    saved = invitations.submit(
        db(), token, [(str(f.get("topic_id") or ""), [str(m) for m in f.get("preferred") or []])
                      for f in focus], body.get("capacity"), str(body.get("note") or ""))
    return _answer_public(saved), 201


@bp.post("/invitations/<token>/responses")
def mentor_response(token: str):
    from .invitations import checked, written

    checked(token)
    written(token)
    body = _body()
    run = body.get("run")
    saved = invitations.respond(db(), token, run if isinstance(run, int) else 0,
                                str(body.get("mentee_id") or ""), str(body.get("topic_id") or ""),
                                str(body.get("response") or ""), str(body.get("reason") or ""))
    return {"run": saved.run_id, "mentee_id": saved.mentee_id, "topic_id": saved.topic_id,
            "mentor_id": saved.mentor_id, "response": saved.response, "reason": saved.reason}, 201


@bp.get("/networks/<name>/evaluation")
@role_required()
def evaluation(name: str):
    check_network(name)
    args = request.args
    if not args.get("from") or not args.get("to"):
        raise InputError(Problem("", None, None, "from",
                                 _("give the periods to compare: ?from=BASELINE&to=FOLLOW_UP"),
                                 _("see the OpenAPI document")))
    try:
        confidence = float(args.get("confidence", 0.95))
    except ValueError:
        raise InputError(Problem("", None, None, "confidence", _("not a number"),
                                 _("for example 0.95"))) from None
    result = services.evaluate_network(db(), name, args["from"], args["to"], confidence,
                                       args.get("by_region") in ("1", "true", "yes"))
    return result.as_dict()


@bp.get("/networks/<name>/quality")
@role_required()
def quality(name: str):
    from dataclasses import asdict

    check_network(name)
    report = services.quality_report(db(), name)
    return {"summary": report.summary(), "checks": report.describe(),
            "counts": [dict(asdict(c), missing=c.missing) for c in report.counts],
            "by_region": [dict(asdict(c), missing=c.missing) for c in report.by_region],
            "flags": [dict(asdict(f), accepted=f.accepted) for f in report.flags]}


@bp.get("/openapi.json")
def openapi():
    return openapi_document()


def openapi_document() -> dict:
    """The API described for people and for clients (OpenAPI 3.1)."""
    def ok(description, schema_ref=None):
        content = {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema_ref}"}
                                        if schema_ref else {"type": "object"}}}
        return {"description": description, "content": content}

    errors = {"400": ok("bad input: every problem", "Error"), "401": ok("not signed in", "Error"),
              "403": ok("role not allowed", "Error"), "404": ok("not found", "Error")}
    name = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
    run_id = {"name": "run_id", "in": "path", "required": True, "schema": {"type": "integer"}}
    period = {"name": "period", "in": "path", "required": True, "schema": {"type": "string"}}
    partnership = {"name": "partnership_id", "in": "path", "required": True,
                   "schema": {"type": "integer"}}
    token = {"name": "token", "in": "path", "required": True, "schema": {"type": "string"}}

    def get(summary, params, description="OK"):
        return {"get": {"summary": summary, "parameters": params,
                        "responses": {"200": ok(description), **errors}}}

    def body(schema_ref):
        return {"required": True, "content": {"application/json": {
            "schema": {"$ref": f"#/components/schemas/{schema_ref}"}}}}

    paths = {
        "/api/v1/networks": get("The networks", []),
        "/api/v1/networks/{name}": get("A network: counts, periods, focus, runs", [name]),
        "/api/v1/networks/{name}/institutions": get("Its institutions", [name]),
        "/api/v1/networks/{name}/topics": get("Its topics", [name]),
        "/api/v1/networks/{name}/snapshots": get("Its score snapshots (periods)", [name]),
        "/api/v1/networks/{name}/snapshots/{period}": get("The scores of one period",
                                                          [name, period]),
        "/api/v1/networks/{name}/focus": {
            **get("The focus topics of a round", [name, {"name": "round", "in": "query",
                                                         "schema": {"type": "string"}}]),
            "put": {"summary": "Set institutions' focus topics (each listed institution's "
                               "topics become exactly its list)", "parameters": [name],
                    "requestBody": body("FocusChoices"),
                    "responses": {"200": ok("saved"), **errors}}},
        "/api/v1/networks/{name}/runs": {
            **get("Its match runs", [name]),
            "post": {"summary": "Match the network and keep the run as a draft",
                     "parameters": [name], "requestBody": body("RunRequest"),
                     "responses": {"201": ok("the run's summary"), **errors}}},
        "/api/v1/runs/{run_id}": get("A run: inputs, options, summary, status", [run_id]),
        "/api/v1/runs/{run_id}/pairs": get("A run's pairs and unmatched requests", [run_id]),
        "/api/v1/runs/{run_id}/publish": {
            "post": {"summary": "Publish a draft run (its pairs become partnerships)",
                     "parameters": [run_id], "requestBody": body("Publish"),
                     "responses": {"200": ok("published"), "409": ok("not a draft, or changed "
                                                                     "by someone else", "Error"),
                                   **errors}}},
        "/api/v1/networks/{name}/partnerships": get(
            "Its partnerships under way (ended ones too with ?ended=1)",
            [name, {"name": "ended", "in": "query", "schema": {"type": "string"}}]),
        "/api/v1/networks/{name}/partnerships/{partnership_id}": get(
            "A partnership of two institutions: step, its topics and both institutions' "
            "scores on each, records, overdue activities",
            [name, partnership]),
        "/api/v1/networks/{name}/partnerships/{partnership_id}/records": {
            "post": {"summary": "Write a record of the cycle (a later step's record moves the "
                                "partnership there)", "parameters": [name, partnership],
                     "requestBody": body("Record"),
                     "responses": {"201": ok("written"), **errors}}},
        "/api/v1/networks/{name}/invitations": {
            **get("The round's live invitation links, one per institution", [name]),
            "post": {"summary": "Create the missing links (all institutions, or those listed)",
                     "parameters": [name], "requestBody": body("Invitations"),
                     "responses": {"201": ok("the round's live links"), **errors}}},
        "/api/v1/networks/{name}/answers": get(
            "What the institutions answered on their pages (the last answer of each), and "
            "who has not answered yet", [name]),
        "/api/v1/networks/{name}/answers/apply": {
            "post": {"summary": "Use the answers: every one not rejected becomes the "
                                "institution's focus topics, preferred mentors and capacity",
                     "parameters": [name], "responses": {"200": ok("applied"), **errors}}},
        "/api/v1/invitations/{token}": get(
            "An institution's own page by its invitation (no account): where it stands, the "
            "mentors eligible per topic, its answer, the pairs it is asked to accept",
            [token]),
        "/api/v1/invitations/{token}/answer": {
            "post": {"summary": "The institution answers: focus topics most important first, "
                                "up to 3 preferred mentors each, its capacity",
                     "parameters": [token], "requestBody": body("Answer"),
                     "responses": {"201": ok("saved"), **errors}}},
        "/api/v1/invitations/{token}/responses": {
            "post": {"summary": "As a mentor, accept or decline a pair of the shared draft (a "
                                "decline needs a reason and is excluded from the next rerun)",
                     "parameters": [token], "requestBody": body("MentorResponse"),
                     "responses": {"201": ok("saved"), **errors}}},
        "/api/v1/networks/{name}/events": {
            **get("The network's learning events, oldest first, with who attended", [name]),
            "post": {"summary": "Add a network learning event (a partnership named brings both "
                                "its institutions)", "parameters": [name],
                     "requestBody": body("LearningEvent"),
                     "responses": {"201": ok("added"), **errors}}},
        "/api/v1/networks/{name}/programme": get(
            "The programme dashboard: partnerships by step, overdue activities, visits",
            [name]),
        "/api/v1/networks/{name}/evaluation": get(
            "Did institutions improve on the topics they chose? Per topic and kind: the effect "
            "adjusted for the baseline (estimate, ci_low, ci_high, se, mde), the unadjusted "
            "difference, and mentored against not, among those that chose the topic",
            [name] + [{"name": q, "in": "query", "required": q in ("from", "to"),
                       "schema": {"type": "string"}}
                      for q in ("from", "to", "confidence", "by_region")]),
        "/api/v1/networks/{name}/quality": get(
            "The data-quality report: per topic and period (and region) the values, missing "
            "ones and flags by check, then every flagged score", [name]),
        "/api/v1/openapi.json": {"get": {"summary": "This document",
                                         "responses": {"200": ok("OpenAPI 3.1")}}},
    }
    option_props = {f.name: {"description": f"{f.metadata['help']} (default: {f.default})"}
                    for f in MatchOptions.fields()}
    schemas = {
        "Error": {"type": "object", "required": ["error"], "properties": {
            "error": {"type": "string"},
            "problems": {"type": "array", "items": {"type": "object", "properties": {
                k: {"type": ["string", "integer", "null"]}
                for k in ("file", "sheet", "row", "column", "message", "fix")}}}}},
        "FocusChoices": {"type": "object", "required": ["choices"], "properties": {
            "round": {"type": "string"},
            "choices": {"type": "object", "additionalProperties": {
                "type": "array", "items": {"type": "object", "required": ["topic_id"],
                                           "properties": {"topic_id": {"type": "string"},
                                                          "priority": {"type": "integer",
                                                                       "minimum": 1}}}}}}},
        "RunRequest": {"type": "object", "properties": {
            "period": {"type": "string"}, "round": {"type": "string"},
            "options": {"type": "object", "properties": option_props,
                        "additionalProperties": False}}},
        "Publish": {"type": "object", "properties": {"version": {"type": "integer"}}},
        "Invitations": {"type": "object", "properties": {
            "institutions": {"type": "array", "items": {"type": "string"}},
            "days": {"type": "integer", "minimum": 1, "maximum": 366}}},
        "Answer": {"type": "object", "properties": {
            "focus": {"type": "array", "items": {"type": "object", "required": ["topic_id"],
                                                 "properties": {
                "topic_id": {"type": "string"},
                "preferred": {"type": "array", "items": {"type": "string"}, "maxItems": 3}}}},
            "capacity": {"type": ["integer", "null"], "minimum": 0, "maximum": 100},
            "note": {"type": "string"}}},
        "MentorResponse": {"type": "object", "required": ["run", "mentee_id", "topic_id",
                                                          "response"], "properties": {
            "run": {"type": "integer"}, "mentee_id": {"type": "string"},
            "topic_id": {"type": "string"}, "response": {"enum": ["accept", "decline"]},
            "reason": {"type": "string"}}},
        "LearningEvent": {"type": "object", "required": ["held_on", "kind", "title"],
                          "properties": {
            **{f.name: {"description": f.label + (f": one of {', '.join(f.choices)}"
                                                   if f.choices else "")}
               for f in NETWORK_EVENT.fields},
            "topics": {"type": "array", "items": {"type": "string"},
                       "description": "topic ids or names"},
            "institutions": {"type": "array", "items": {"type": "string"},
                             "description": "institutions attending on their own: ids or names"},
            "partnerships": {"type": "array", "items": {"type": "integer"},
                             "description": "partnerships attending (both institutions)"}}},
        "Record": {"type": "object", "required": ["kind", "fields"], "properties": {
            "kind": {"enum": list(RECORDS)},
            "topic_id": {"type": ["string", "null"], "description": "for priorities and "
                         "action_plan: the partnership's topic it is about (default: the "
                         "whole partnership)"},
            "fields": {"type": "object", "description": "the record's fields by name (see "
                       "tpn.cycle); dates as YYYY-MM-DD, lines as text with one per line, "
                       "activities as a list of {what, owner, due, done}", "properties": {
                           f.name: {"description": f"{spec.name}: {f.label}"}
                           for spec in RECORDS.values() for f in spec.fields}}}},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "tpn — Twinning Partnership Network", "version": __version__,
                 "description": __doc__.strip()},
        "paths": paths,
        "components": {"schemas": schemas,
                       "securitySchemes": {"basic": {"type": "http", "scheme": "basic"},
                                           "session": {"type": "apiKey", "in": "cookie",
                                                       "name": "session"}}},
        "security": [{"basic": []}, {"session": []}],
    }

