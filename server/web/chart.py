"""The dashboard's daily trend as inline SVG, drawn on the server: no
JavaScript, no chart library. Pure: days in, markup out."""
from __future__ import annotations

from markupsafe import Markup, escape

W, H = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 44, 44, 14, 30


def trend_svg(days: list[dict], target: float, labels: dict) -> Markup:
    """`days`: [{"day": "YYYY-MM-DD", "disposals": n, "accuracy": {"value": v|None}}].
    Bars are disposals (right axis), the line is accuracy (left axis, 0-100 %),
    the dashed line the accuracy target."""
    n = max(1, len(days))
    plot_w, plot_h = W - LEFT - RIGHT, H - TOP - BOTTOM
    step = plot_w / n
    most = max([d["disposals"] for d in days] + [1])

    def y_rate(v: float) -> float:
        return TOP + plot_h * (1 - v)

    parts = [f'<svg viewBox="0 0 {W} {H}" role="img" aria-label="{escape(labels["title"])}" '
             'xmlns="http://www.w3.org/2000/svg" font-size="11" font-family="sans-serif">']
    for frac in (0, 0.25, 0.5, 0.75, 1):
        y = y_rate(frac)
        parts.append(f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e3e8ee"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#5b6675">'
                     f'{int(frac * 100)}%</text>')
    parts.append(f'<text x="{W - RIGHT + 6}" y="{TOP + 4}" fill="#90a4ae">{most}</text>')
    for i, d in enumerate(days):
        if d["disposals"]:
            h = plot_h * d["disposals"] / most
            x = LEFT + i * step + step * 0.15
            parts.append(f'<rect x="{x:.1f}" y="{TOP + plot_h - h:.1f}" width="{step * 0.7:.1f}" '
                         f'height="{h:.1f}" fill="#cfd8dc"><title>{escape(d["day"])}: '
                         f'{d["disposals"]}</title></rect>')
        if i % 5 == 0 or i == n - 1:
            parts.append(f'<text x="{LEFT + (i + 0.5) * step:.1f}" y="{H - 10}" text-anchor="middle" '
                         f'fill="#5b6675">{escape(d["day"][5:])}</text>')
    ty = y_rate(target)
    parts.append(f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{ty:.1f}" y2="{ty:.1f}" stroke="#c62828" '
                 f'stroke-dasharray="6 4"/><text x="{W - RIGHT + 6}" y="{ty + 4:.1f}" fill="#c62828">'
                 f'{int(round(target * 100))}%</text>')
    # The accuracy line, broken where a day has nothing judged.
    segment: list[str] = []
    dots = []
    for i, d in enumerate(days):
        v = d["accuracy"]["value"]
        if v is None:
            if len(segment) > 1:
                parts.append(_polyline(segment))
            segment = []
            continue
        x, y = LEFT + (i + 0.5) * step, y_rate(v)
        segment.append(f"{x:.1f},{y:.1f}")
        dots.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="#0b6e4f"><title>'
                    f'{escape(d["day"])}: {v * 100:.1f}%</title></circle>')
    if len(segment) > 1:
        parts.append(_polyline(segment))
    parts.extend(dots)
    if not dots:
        parts.append(f'<text x="{W / 2}" y="{TOP + plot_h / 2}" text-anchor="middle" fill="#5b6675" '
                     f'font-size="14">{escape(labels["empty"])}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _polyline(points: list[str]) -> str:
    return (f'<polyline points="{" ".join(points)}" fill="none" stroke="#0b6e4f" '
            'stroke-width="2.5" stroke-linejoin="round"/>')
