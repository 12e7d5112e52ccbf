"""The fleet page's plot of boots and failures per minute, drawn on the
server as SVG: no script, no chart library, readable without colour
(failures are hatched bars, and the figure has a text summary)."""

from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup, escape

from bootsvc.core.boot.bootrate import BootRate

WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 720, 160, 36, 20, 8


@dataclass(frozen=True)
class Plot:
    svg: Markup
    summary: str


def _bar(x: float, width: float, count: int, scale: float, css: str) -> str:
    height = count * scale
    y = HEIGHT - BOTTOM - height
    return (
        f'<rect class="{css}" x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{height:.1f}"/>'
    )


def boots_plot(rate: BootRate) -> Plot:
    minutes = len(rate.boots)
    peak = max(rate.boots, default=0)
    scale = (HEIGHT - BOTTOM - TOP) / max(peak, 1)
    step = (WIDTH - LEFT) / max(minutes, 1)
    parts = [
        '<pattern id="hatch" width="4" height="4" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="2" height="4" class="fail"/></pattern>',
        f'<line class="axis" x1="{LEFT}" y1="{HEIGHT - BOTTOM}" x2="{WIDTH}" '
        f'y2="{HEIGHT - BOTTOM}"/>',
        f'<text x="{LEFT - 4}" y="{TOP + 8}" text-anchor="end">{peak}</text>',
        f'<text x="{LEFT - 4}" y="{HEIGHT - BOTTOM}" text-anchor="end">0</text>',
    ]
    for minute, (count, failed) in enumerate(zip(rate.boots, rate.failures, strict=True)):
        x = LEFT + minute * step
        if count:
            parts.append(_bar(x, max(step - 0.5, 0.5), count, scale, "boot"))
        if failed:
            parts.append(_bar(x, max(step - 0.5, 0.5), failed, scale, "failed"))
    hours = minutes // 60
    for back in range(hours + 1):
        x = LEFT + (minutes - 1 - back * 60) * step
        label, anchor = (f"-{back} h", "middle") if back else ("now", "end")
        parts.append(f'<text x="{x:.1f}" y="{HEIGHT - 4}" text-anchor="{anchor}">{label}</text>')
    summary = (
        f"{sum(rate.boots)} boots and {sum(rate.failures)} failed boots in the last "
        f"{hours} hours; at most {peak} boots in one minute"
    )
    # Numbers and fixed text only; the summary is escaped.
    svg = Markup(  # noqa: S704
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(summary)}" '
        f'class="plot" xmlns="http://www.w3.org/2000/svg">' + "".join(parts) + "</svg>"
    )
    return Plot(svg, summary)
