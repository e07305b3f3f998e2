"""Evaluation (step 6): did institutions improve on the topics they chose? The figures of
``tpn evaluate`` on a page, and its printable report."""

from __future__ import annotations

from flask import Blueprint, Response, render_template, request
from markupsafe import Markup

from tpn import services
from tpn.analysis.report import effect_chart, evaluation_html

from . import db
from .auth import check_network, role_required

bp = Blueprint("evaluation", __name__)


def init_app(app) -> None:
    app.register_blueprint(bp)


def _periods(name: str) -> tuple[list[str], str | None, str | None]:
    periods = services.load(db(), name).periods
    first = request.args.get("from") or (periods[0] if len(periods) > 1 else None)
    last = request.args.get("to") or (periods[-1] if len(periods) > 1 else None)
    return periods, first, last


@bp.route("/networks/<name>/evaluation")
@role_required()
def page(name: str):
    check_network(name)
    periods, first, last = _periods(name)
    by_region = request.args.get("by_region") == "1"
    result = None
    if first and last:
        result = services.evaluate_network(db(), name, first, last, by_region=by_region)
    return render_template("evaluation.html", net=name, periods=periods, first=first,
                           last=last, by_region=by_region, result=result,
                           chart=Markup(effect_chart(result.effects)) if result else "")


@bp.route("/networks/<name>/evaluation/report.html")
@role_required()
def report(name: str):
    check_network(name)
    _periods_, first, last = _periods(name)
    result = services.evaluate_network(db(), name, first, last,
                                       by_region=request.args.get("by_region") == "1")
    return Response(evaluation_html(result), mimetype="text/html",
                    headers={"Content-Disposition":
                             f'attachment; filename="{name}-evaluation.html"'})
