"""The printable evaluation report: one self-contained HTML page (inline CSS and SVG, no
external assets, every text escaped), readable on screen and on paper, in any language tpn
speaks."""

from __future__ import annotations

from html import escape

from ..i18n import _, current, ngettext, number, say
from .evaluation import Evaluation, TopicEffect


def _num(v, language: str, digits=2, sign=True) -> str:
    if v is None:
        return "–"
    return say(number(v, f"+.{digits}f" if sign else f".{digits}f"), language)


def _interval(low, high, language: str) -> str:
    if low is None:
        return "–"
    return say(_("{low} to {high}", low=number(low, "+.2f"), high=number(high, "+.2f")),
               language)


def effect_chart(effects: tuple[TopicEffect, ...] | list[TopicEffect],
                 language: str | None = None) -> str:
    """Each topic's adjusted estimate with its interval, on one axis through zero (SVG)."""
    language = language or current()
    rows = [e for e in effects if e.estimate is not None]
    if not rows:
        return ""
    lo = min(min(e.ci_low for e in rows), 0.0)
    hi = max(max(e.ci_high for e in rows), 0.0)
    span = (hi - lo) or 1.0
    width, left, row_h = 640, 230, 26
    x = lambda v: left + (v - lo) / span * (width - left - 20)
    label = escape(say(_("Adjusted effect of choosing each topic, with its interval"), language))
    parts = [f'<svg role="img" aria-label="{label}" '
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
            f'<circle cx="{x(e.estimate):.1f}" cy="{y:.1f}" r="5" fill="{colour}"/>',
        ]
    zero = escape(say(_("0 = no difference"), language))
    parts.append(f'<text x="{x(0):.1f}" y="{row_h * len(rows) + 20}" text-anchor="middle" '
                 f'font-size="11">{zero}</text></svg>')
    return "\n".join(parts)


_HEADERS = (_("Topic"), _("Kind"), _("Chose (n)"), _("Others (n)"), _("Adjusted effect"),
            _("Interval"), _("Detectable from"), _("Unadjusted difference (interval)"),
            _("Mentored vs not (n)"))
_PAIR_HEADERS = (_("Mentee"), _("Mentor"), _("Topic"), _("Mentee before"), _("Mentee after"),
                 _("Mentor before"), _("Mentor after"))


def evaluation_html(result: Evaluation, language: str | None = None) -> str:
    """The report in ``language`` (default: the current one)."""
    language = language or current()

    def t(text) -> str:
        return escape(say(text, language))

    effects = result.effects
    head = "<tr>" + "".join(f"<th>{t(h)}</th>" for h in _HEADERS) + "</tr>"
    body = []
    notes = []
    for e in effects:
        if e.mentored_estimate is not None:
            mentored = t(_("{value} ({interval}; {mentored} vs {unmentored})",
                           value=number(e.mentored_estimate, "+.2f"),
                           interval=_interval(e.mentored_ci_low, e.mentored_ci_high, language),
                           mentored=e.n_mentored, unmentored=e.n_unmentored))
        else:
            mentored = t(_("– ({mentored} vs {unmentored})", mentored=e.n_mentored,
                           unmentored=e.n_unmentored))
        if e.n_external:
            mentored += "; " + t(_("{n} with an external partner, apart", n=e.n_external))
        body.append(
            f"<tr><td>{escape(e.topic_id)}</td><td>{escape(e.kind)}</td><td>{e.n_chose}</td>"
            f"<td>{e.n_other}</td><td><strong>{_num(e.estimate, language)}</strong></td>"
            f"<td>{_interval(e.ci_low, e.ci_high, language)}</td>"
            f"<td>{_num(e.mde, language, sign=False)}</td>"
            f"<td>{_num(e.unadjusted_difference, language)} "
            f"({_interval(e.unadjusted_ci_low, e.unadjusted_ci_high, language)})</td>"
            f"<td>{mentored}</td></tr>")
        flagged = ngettext("{n} institution left out: a flagged score",
                           "{n} institutions left out: a flagged score",
                           e.n_flagged) if e.n_flagged else ""
        for text in (e.note, e.warning, flagged):
            if text:
                notes.append(f"<li>{escape(e.topic_id)} ({escape(e.kind)}): {t(text)}</li>")
    caveat = next((e.mentored_note for e in effects
                   if e.mentored_estimate is not None and e.mentored_note), "")
    pair_rows = "".join(
        f"<tr><td>{escape(p.mentee_id)}</td><td>{escape(p.mentor_id)}</td>"
        f"<td>{escape(p.topic_id)}</td><td>{_num(p.mentee_before, language, 1, False)}</td>"
        f"<td>{_num(p.mentee_after, language, 1, False)}</td>"
        f"<td>{_num(p.mentor_before, language, 1, False)}</td>"
        f"<td>{_num(p.mentor_after, language, 1, False)}</td></tr>" for p in result.pairs)
    adjusted_for = effects[0].adjusted_for if effects else "baseline"
    intro = _("{title}: from {start} to {end}, in each topic's units, oriented so that a "
              "positive figure is an improvement. The adjusted effect compares the follow-up "
              "scores of the institutions that chose the topic with those of the other "
              "institutions of the same kind that started at the same level (adjusted for: "
              "{adjusted_for}), with a {level:.0%} interval. An interval that excludes 0 "
              "suggests a real difference; detectable from is the smallest effect the "
              "comparison could have found with {power:.0%} power.", title=result.title,
              start=result.from_period, end=result.to_period, adjusted_for=adjusted_for,
              level=result.confidence, power=0.8)
    limits = _("Institutions choose their weakest topics, and a score that was low partly by "
               "chance rises the next time with no help (regression to the mean): the "
               "unadjusted difference of raw changes counts that as an effect, so it is shown "
               "only beside the adjusted one. The adjustment removes what the baselines "
               "explain; it cannot remove a choice made for reasons that also drive "
               "improvement (a new manager, a funded project), so an effect here is an "
               "association with choosing the topic, not proof that the partnership caused "
               "it. The mentored vs not column compares, among those that chose the topic, the "
               "institutions that got a mentor with those that did not.")
    partnerships = (
        f"<h2>{t(_('Partnerships'))}</h2><table><tr>"
        + "".join(f"<th>{t(h)}</th>" for h in _PAIR_HEADERS) + "</tr>" + pair_rows + "</table>"
        if result.pairs else "")
    notes_html = (f"<h2>{t(_('Notes'))}</h2><ul>" + "".join(notes) + "</ul>" if notes else "")
    return f"""<!doctype html>
<html lang="{escape(language)}"><head><meta charset="utf-8">
<title>{t(_("Evaluation: {title}", title=result.title))}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; color: #222; max-width: 72rem; }}
table {{ border-collapse: collapse; margin: 1rem 0; }}
th, td {{ border: 1px solid #bbb; padding: .3rem .6rem; text-align: right; }}
th:first-child, td:first-child, td:nth-child(2) {{ text-align: left; }}
.limits {{ background: #f6f6f6; padding: .5rem 1rem; }}
@media print {{ body {{ margin: 0; }} h2 {{ break-before: auto; }} tr {{ break-inside: avoid; }} }}
</style></head><body>
<h1>{t(_("Did institutions improve on the topics they chose?"))}</h1>
<p>{t(intro)}</p>
{effect_chart(effects, language)}
<table>{head}{"".join(body)}</table>
{notes_html}
<div class="limits"><h2>{t(_("What these figures cannot tell"))}</h2>
<p>{t(limits)}{" " + t(caveat) if caveat else ""}</p></div>
{partnerships}
</body></html>
"""
