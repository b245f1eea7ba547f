"""Small dependency-free SVG line charts, embedded in Dagster metadata as Markdown images."""

from __future__ import annotations

import base64
import math
from html import escape

_COLORS = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2")


def line_chart_svg(
    x: list[float],
    series: dict[str, list[float]],
    title: str,
    x_label: str = "epoch",
    width: int = 640,
    height: int = 300,
) -> str:
    """One panel, shared x axis; each series is scaled to its own min–max and labelled with its range."""
    left, right, top, bottom = 50, 170, 30, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    x_lo, x_hi = min(x), max(x)
    x_span = (x_hi - x_lo) or 1.0
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{left}" y="18" font-size="14" font-weight="bold">{escape(title)}</text>',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#444"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#444"/>',
        f'<text x="{left + plot_w / 2}" y="{height - 8}" text-anchor="middle">{escape(x_label)}</text>',
        f'<text x="{left}" y="{top + plot_h + 15}" text-anchor="middle">{x_lo:g}</text>',
        f'<text x="{left + plot_w}" y="{top + plot_h + 15}" text-anchor="middle">{x_hi:g}</text>',
    ]
    for k, (name, ys) in enumerate(series.items()):
        pts = [(xv, yv) for xv, yv in zip(x, ys, strict=False) if yv is not None and math.isfinite(yv)]
        if not pts:
            continue
        y_lo, y_hi = min(p[1] for p in pts), max(p[1] for p in pts)
        y_span = (y_hi - y_lo) or 1.0
        coords = " ".join(
            f"{left + (xv - x_lo) / x_span * plot_w:.1f},{top + plot_h - (yv - y_lo) / y_span * plot_h:.1f}"
            for xv, yv in pts
        )
        color = _COLORS[k % len(_COLORS)]
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.8" points="{coords}"/>')
        parts.append(
            f'<text x="{left + plot_w + 10}" y="{top + 16 + 34 * k}" fill="{color}">{escape(name)}</text>'
        )
        parts.append(
            f'<text x="{left + plot_w + 10}" y="{top + 30 + 34 * k}" fill="#666" font-size="10">'
            f"{y_lo:.4g} – {y_hi:.4g}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def svg_markdown(svg: str, alt: str) -> str:
    """A Markdown image with the SVG inlined as a data URI (renders in the Dagster UI's metadata panel)."""
    return f"![{alt}](data:image/svg+xml;base64,{base64.b64encode(svg.encode()).decode()})"
