"""The printable evaluation report: one self-contained HTML page (inline CSS and SVG, no
external assets, every text escaped), readable on screen and on paper."""

from __future__ import annotations

from html import escape

from .evaluation import PairChange, TopicEffect


def _num(v, digits=2) -> str:
    return "–" if v is None else f"{v:+.{digits}f}" if digits else f"{v}"


def _chart(effects: list[TopicEffect]) -> str:
    """Each topic's difference with its interval, on one axis through zero."""
    rows = [e for e in effects if e.difference is not None]
    if not rows:
        return ""
    lo = min(min(e.ci_low for e in rows), 0.0)
    hi = max(max(e.ci_high for e in rows), 0.0)
    span = (hi - lo) or 1.0
    width, left, row_h = 640, 230, 26
    x = lambda v: left + (v - lo) / span * (width - left - 20)
    parts = [f'<svg role="img" aria-label="Difference in improvement per topic" '
             f'viewBox="0 0 {width} {row_h * len(rows) + 30}" width="100%">',
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
            f'<circle cx="{x(e.difference):.1f}" cy="{y:.1f}" r="5" fill="{colour}"/>',
        ]
    parts.append(f'<text x="{x(0):.1f}" y="{row_h * len(rows) + 20}" text-anchor="middle" '
                 f'font-size="11">0 = no difference</text></svg>')
    return "\n".join(parts)


def evaluation_html(title: str, from_period: str, to_period: str, effects: list[TopicEffect],
                    pairs: list[PairChange]) -> str:
    head = ("<tr><th>Topic</th><th>Kind</th><th>Chose (n)</th><th>Others (n)</th>"
            "<th>Mean change, chose</th><th>Mean change, others</th><th>Difference</th>"
            "<th>Interval</th></tr>")
    body = "".join(
        f"<tr><td>{escape(e.topic_id)}</td><td>{escape(e.kind)}</td><td>{e.n_chose}</td>"
        f"<td>{e.n_other}</td><td>{_num(e.mean_change_chose)}</td>"
        f"<td>{_num(e.mean_change_other)}</td><td>{_num(e.difference)}</td>"
        f"<td>{'–' if e.ci_low is None else f'{e.ci_low:+.2f} to {e.ci_high:+.2f}'}"
        f"{(' (' + escape(e.note) + ')') if e.note else ''}</td></tr>" for e in effects)
    pair_rows = "".join(
        f"<tr><td>{escape(p.mentee_id)}</td><td>{escape(p.mentor_id)}</td>"
        f"<td>{escape(p.topic_id)}</td><td>{_num(p.mentee_before, 1)}</td>"
        f"<td>{_num(p.mentee_after, 1)}</td><td>{_num(p.mentor_before, 1)}</td>"
        f"<td>{_num(p.mentor_after, 1)}</td></tr>" for p in pairs)
    method = escape(effects[0].method) if effects else "welch"
    level = f"{effects[0].confidence:.0%}" if effects else "95%"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Evaluation: {escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; color: #222; }}
table {{ border-collapse: collapse; margin: 1rem 0; }}
th, td {{ border: 1px solid #bbb; padding: .3rem .6rem; text-align: right; }}
th:first-child, td:first-child, td:nth-child(2) {{ text-align: left; }}
@media print {{ body {{ margin: 0; }} h2 {{ break-before: auto; }} tr {{ break-inside: avoid; }} }}
</style></head><body>
<h1>Did institutions improve on the topics they chose?</h1>
<p>{escape(title)}: change from {escape(from_period)} to {escape(to_period)}, in each topic's
units, oriented so that a positive change is an improvement. <em>Difference</em> is the mean
change of the institutions that chose the topic minus that of the other institutions of the
same kind, with a {level} interval ({method}). An interval that excludes 0 suggests a real
difference.</p>
{_chart(effects)}
<table>{head}{body}</table>
{"<h2>Partnerships</h2><table><tr><th>Mentee</th><th>Mentor</th><th>Topic</th><th>Mentee before</th><th>Mentee after</th><th>Mentor before</th><th>Mentor after</th></tr>" + pair_rows + "</table>" if pairs else ""}
</body></html>
"""
