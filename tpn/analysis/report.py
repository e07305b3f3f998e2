"""The printable evaluation report: one self-contained HTML page (inline CSS and SVG, no
external assets, every text escaped), readable on screen and on paper."""

from __future__ import annotations

from html import escape

from .evaluation import Evaluation, TopicEffect


def _num(v, digits=2, sign=True) -> str:
    if v is None:
        return "–"
    return f"{v:+.{digits}f}" if sign else f"{v:.{digits}f}"


def _interval(low, high) -> str:
    return "–" if low is None else f"{low:+.2f} to {high:+.2f}"


def effect_chart(effects: tuple[TopicEffect, ...] | list[TopicEffect]) -> str:
    """Each topic's adjusted estimate with its interval, on one axis through zero (SVG)."""
    rows = [e for e in effects if e.estimate is not None]
    if not rows:
        return ""
    lo = min(min(e.ci_low for e in rows), 0.0)
    hi = max(max(e.ci_high for e in rows), 0.0)
    span = (hi - lo) or 1.0
    width, left, row_h = 640, 230, 26
    x = lambda v: left + (v - lo) / span * (width - left - 20)
    parts = [f'<svg role="img" aria-label="Adjusted effect of choosing each topic, with its '
             f'interval" viewBox="0 0 {width} {row_h * len(rows) + 30}" width="100%">',
             f'<line x1="{x(0):.1f}" y1="0" x2="{x(0):.1f}" y2="{row_h * len(rows)}" '
             f'stroke="#888" stroke-dasharray="3 3"/>']
    for k, e in enumerate(rows):
        y = row_h * k + row_h / 2
        colour = "#1b7837" if e.ci_low > 0 else "#762a83" if e.ci_high < 0 else "#555"
        parts += [
            f'<text x="{left - 8}" y="{y + 4:.1f}" text-anchor="end" font-size="12">'
            f'{escape(e.topic_id)} ({escape(e.kind)})</text>',
            f'<line x1="{x(e.ci_low):.1f}" y1="{y:.1f}" x2="{x(e.ci_high):.1f}" y2="{y:.1f}" '
            f'stroke="{colour}" stroke-width="3"/>',
            f'<circle cx="{x(e.estimate):.1f}" cy="{y:.1f}" r="5" fill="{colour}"/>',
        ]
    parts.append(f'<text x="{x(0):.1f}" y="{row_h * len(rows) + 20}" text-anchor="middle" '
                 f'font-size="11">0 = no difference</text></svg>')
    return "\n".join(parts)


def evaluation_html(result: Evaluation) -> str:
    effects = result.effects
    head = ("<tr><th>Topic</th><th>Kind</th><th>Chose (n)</th><th>Others (n)</th>"
            "<th>Adjusted effect</th><th>Interval</th><th>Detectable from</th>"
            "<th>Unadjusted difference (interval)</th><th>Mentored vs not (n)</th></tr>")
    body = []
    notes = []
    for e in effects:
        mentored = (f"{_num(e.mentored_estimate)} ({_interval(e.mentored_ci_low, e.mentored_ci_high)};"
                    f" {e.n_mentored} vs {e.n_unmentored})" if e.mentored_estimate is not None
                    else f"– ({e.n_mentored} vs {e.n_unmentored})")
        if e.n_external:
            mentored += f"; {e.n_external} with an external partner, apart"
        body.append(
            f"<tr><td>{escape(e.topic_id)}</td><td>{escape(e.kind)}</td><td>{e.n_chose}</td>"
            f"<td>{e.n_other}</td><td><strong>{_num(e.estimate)}</strong></td>"
            f"<td>{_interval(e.ci_low, e.ci_high)}</td><td>{_num(e.mde, sign=False)}</td>"
            f"<td>{_num(e.unadjusted_difference)} "
            f"({_interval(e.unadjusted_ci_low, e.unadjusted_ci_high)})</td>"
            f"<td>{mentored}</td></tr>")
        for text in (e.note, e.warning,
                     f"{e.n_flagged} institution(s) left out: a flagged score" if e.n_flagged
                     else ""):
            if text:
                notes.append(f"<li>{escape(e.topic_id)} ({escape(e.kind)}): {escape(text)}</li>")
    caveat = next((e.mentored_note for e in effects
                   if e.mentored_estimate is not None and e.mentored_note), "")
    pair_rows = "".join(
        f"<tr><td>{escape(p.mentee_id)}</td><td>{escape(p.mentor_id)}</td>"
        f"<td>{escape(p.topic_id)}</td><td>{_num(p.mentee_before, 1, False)}</td>"
        f"<td>{_num(p.mentee_after, 1, False)}</td><td>{_num(p.mentor_before, 1, False)}</td>"
        f"<td>{_num(p.mentor_after, 1, False)}</td></tr>" for p in result.pairs)
    level = f"{result.confidence:.0%}"
    adjusted_for = escape(effects[0].adjusted_for) if effects else "baseline"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Evaluation: {escape(result.title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; color: #222; max-width: 72rem; }}
table {{ border-collapse: collapse; margin: 1rem 0; }}
th, td {{ border: 1px solid #bbb; padding: .3rem .6rem; text-align: right; }}
th:first-child, td:first-child, td:nth-child(2) {{ text-align: left; }}
.limits {{ background: #f6f6f6; padding: .5rem 1rem; }}
@media print {{ body {{ margin: 0; }} h2 {{ break-before: auto; }} tr {{ break-inside: avoid; }} }}
</style></head><body>
<h1>Did institutions improve on the topics they chose?</h1>
<p>{escape(result.title)}: from {escape(result.from_period)} to {escape(result.to_period)}, in
each topic's units, oriented so that a positive figure is an improvement. The <strong>adjusted
effect</strong> compares the follow-up scores of the institutions that chose the topic with
those of the other institutions of the same kind that started at the same level
(adjusted for: {adjusted_for}), with a {level} interval. An interval that excludes 0 suggests
a real difference; <em>detectable from</em> is the smallest effect the comparison could have
found with 80 % power.</p>
{effect_chart(effects)}
<table>{head}{"".join(body)}</table>
{"<h2>Notes</h2><ul>" + "".join(notes) + "</ul>" if notes else ""}
<div class="limits"><h2>What these figures cannot tell</h2>
<p>Institutions choose their weakest topics, and a score that was low partly by chance rises
the next time with no help (regression to the mean): the <em>unadjusted difference</em> of
raw changes counts that as an effect, so it is shown only beside the adjusted one. The
adjustment removes what the baselines explain; it cannot remove a choice made for reasons
that also drive improvement (a new manager, a funded project), so an effect here is an
association with choosing the topic, not proof that the partnership caused it. The
<em>mentored vs not</em> column compares, among those that chose the topic, the institutions
that got a mentor with those that did not{": " + escape(caveat) if caveat else ""}.</p></div>
{"<h2>Partnerships</h2><table><tr><th>Mentee</th><th>Mentor</th><th>Topic</th><th>Mentee before</th><th>Mentee after</th><th>Mentor before</th><th>Mentor after</th></tr>" + pair_rows + "</table>" if result.pairs else ""}
</body></html>
"""
