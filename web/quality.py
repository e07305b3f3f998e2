"""The data-quality report of a network: flagged scores for the people who can fix them,
accepting a value someone checked, and the report as a workbook or CSV."""

from __future__ import annotations

import tempfile
from io import BytesIO
from pathlib import Path

from flask import Blueprint, abort, g, redirect, render_template, request, send_file, url_for

from tpn import services
from tpn.i18n import _, current
from tpn.tabular import write_sheets
from tpn.tabular.writer import quality_sheets

from . import db
from .auth import can, check_network, role_required
from .languages import flash

bp = Blueprint("quality", __name__)
PAGE = 200          # flagged scores per page: a national export may flag thousands
CHECK_NAMES = {"range": _("out of range"), "outlier": _("outlier"), "jump": _("jump")}


def init_app(app) -> None:
    app.register_blueprint(bp)


@bp.route("/networks/<name>/quality")
@role_required()
def report(name: str):
    check_network(name)
    result = services.quality_report(db(), name)
    network = services.load(db(), name)
    check = request.args.get("check", "")
    flags = [f for f in result.flags if not check or f.check == check]
    pages = max(1, -(-len(flags) // PAGE))
    page = min(max(1, request.args.get("page", 1, type=int)), pages)
    return render_template(
        "quality.html", net=name, report=result, check=check, checks=CHECK_NAMES,
        flags=flags[(page - 1) * PAGE:page * PAGE], shown=len(flags), page=page, pages=pages,
        insts={i.id: i for i in network.institutions},
        topics={t.id: t for t in network.topics},
        unranged=[t for t in sorted(network.topics, key=lambda t: t.id)
                  if t.minimum is None and t.maximum is None],
        regions=[c for c in result.by_region if c.flagged]
        if any(c.region for c in result.by_region) else [], may_accept=can("facilitator"))


@bp.route("/networks/<name>/quality/<filename>")
@role_required()
def download(name: str, filename: str):
    check_network(name)
    if filename not in ("quality.xlsx", "flagged.csv"):
        abort(404)
    sheets = quality_sheets(services.quality_report(db(), name), services.load(db(), name),
                            current())
    with tempfile.TemporaryDirectory() as tmp:
        if filename == "quality.xlsx":
            out = write_sheets(Path(tmp) / filename, sheets, "xlsx")
            mimetype = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        else:
            out = write_sheets(Path(tmp) / "report", {"flagged": sheets["flagged"]},
                               "csv") / "flagged.csv"
            mimetype = "text/csv"
        data = out.read_bytes()
    return send_file(BytesIO(data), mimetype=mimetype, as_attachment=True,
                     download_name=f"{name}-{filename}")


@bp.route("/networks/<name>/quality/accept", methods=["POST"])
@role_required("facilitator")
def accept(name: str):
    form = request.form
    key = (form.get("institution", ""), form.get("topic", ""), form.get("period", ""))
    if form.get("action") == "withdraw":
        services.withdraw_acceptance(db(), name, *key, author=g.user["username"])
        flash(_("Acceptance withdrawn: the score of {value} on {value2} ({value3}) is "
                "flagged again.", value=key[0], value2=key[1], value3=key[2]), "info")
    else:
        flag = services.accept_score(db(), name, *key, author=g.user["username"],
                                     note=form.get("note", "").strip())
        flash(_("Accepted: {reason} — this score counts again (recorded as checked by "
                "{username}).", reason=flag.reason, username=g.user['username']), "info")
    return redirect(url_for("quality.report", name=name, check=form.get("check", "")))
