"""The boards' charts, drawn on the server as SVG by pygal (no script reaches the phone):
leads by grade per campaign or source, a campaign's funnel, the nurture pool by track and
collateral by status. Each chart is an image with its own accessible name; the page puts
the same figures in a table beside it for whoever would rather read."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

import pygal
from pygal.style import Style

from services.app.domain.boards import GRADES, GradeRow

# Dark text on white (contrast well above 4.5:1); one colour per grade, best first.
_STYLE = Style(background="#ffffff", plot_background="#ffffff", foreground="#1f2328",
               foreground_strong="#1f2328", foreground_subtle="#57606a", opacity="1", opacity_hover="0.85",
               colors=("#1a7f37", "#0969da", "#9a6700", "#cf222e", "#8250df", "#57606a"),
               font_family="system-ui, sans-serif", label_font_size=12, major_label_font_size=12,
               legend_font_size=13, value_font_size=12, title_font_size=14)


def _config(**extra: object) -> dict[str, object]:
    # js=[]: pygal would otherwise load its tooltip script from a CDN.
    # Drawn about as wide as a phone shows it, so its text reads at its own size there.
    return {"style": _STYLE, "js": [], "disable_xml_declaration": True, "width": 380, "height": 240,
            "show_y_guides": True, "print_values": True, "print_zeroes": False, "legend_at_bottom": True,
            "margin": 6, "truncate_label": 16, "legend_box_size": 12, **extra}


# pygal always embeds its config for its tooltip script; with no script loaded it is dead weight.
_SCRIPT = re.compile(r"<script\b.*?</script>", re.DOTALL)


def ticks(top: int) -> list[int]:
    """Whole-number ticks from 0 to at least ``top``, at a 1-2-5 step, at most six."""
    step, magnitude = 1, 1
    while top / step > 5:
        for n in (1, 2, 5):
            step = n * magnitude
            if top / step <= 5:
                break
        magnitude *= 10
    return list(range(0, -(-max(top, 1) // step) * step + 1, step))


def _named(svg: str, label: str) -> str:
    """The SVG as one image with an accessible name (its parts are drawing, not content),
    without pygal's script."""
    svg = _SCRIPT.sub("", svg)
    return svg.replace("<svg ", f'<svg role="img" aria-label="{html.escape(label, quote=True)}" ', 1)


def grades_chart(rows: Sequence[GradeRow], label: str) -> str:
    """Stacked bars: one per campaign (or source), split by grade."""
    chart = pygal.HorizontalStackedBar(**_config(height=max(150, 80 + 32 * len(rows)),
                                                 y_labels=ticks(max((r.total for r in rows), default=0))))
    chart.x_labels = [r.key for r in rows]
    for grade in GRADES:
        chart.add(grade, [r.grades.get(grade, 0) for r in rows])
    return _named(chart.render(is_unicode=True), label)


def bars_chart(pairs: Sequence[tuple[str, int]], label: str, series: str) -> str:
    """Plain horizontal bars: a count per name (pool by track, collateral by status, funnel steps)."""
    chart = pygal.HorizontalBar(**_config(height=max(130, 50 + 28 * len(pairs)), show_legend=False,
                                          y_labels=ticks(max((n for _, n in pairs), default=0))))
    chart.x_labels = [name for name, _ in pairs]
    chart.add(series, [n for _, n in pairs])
    return _named(chart.render(is_unicode=True), label)


def funnel_chart(steps: Sequence[tuple[str, int]], label: str) -> str:
    """A campaign's funnel, step by step (invited → registered → ... → won)."""
    return bars_chart(steps, label, "members")
