"""Charts drawn on the server as SVG: no JavaScript, no CDN, nothing inline but markup.

Every function is pure (data in, `Markup` out) so it can be tested without Flask.
The Content-Security-Policy forbids inline styles (`style-src 'self'`), so the SVG uses
presentation attributes only (`fill`, `stroke`, `font-size`, ...), never `style="..."`.

Each chart is accessible (`role="img"`, `<title>` and `<desc>` referenced by
`aria-labelledby`), sized by its viewBox only (CSS decides how wide it is drawn; class
`chart` is set for that), and readable in print: dark text with a white halo, a legend
whenever colour carries meaning, dash patterns as well as colours for line series.
Every text label passes through `markupsafe.escape`.

Every chart also offers its numbers as a table: the `*_rows` helpers return the rows a
caller renders as an HTML table or passes to `chart_table_csv` for a CSV download.
All visible words (titles, legends, "nothing to draw") are arguments, so callers can
translate them.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import date, datetime

import networkx as nx
import numpy as np
from markupsafe import Markup, escape

# Paul Tol's "bright" scheme: distinguishable with the common colour-vision deficiencies,
# and each colour differs in lightness enough to stay apart when printed in grey.
PALETTE = ("#4477AA", "#EE6677", "#228833", "#CCBB44", "#66CCEE", "#AA3377")
OTHER_COLOUR = "#BBBBBB"
INK = "#1d2430"
MUTED = "#687385"
GRID = "#dde2ea"
EDGE_COLOUR = "#8a94a6"
CENTER_COLOUR = "#1d2430"
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"
# Dash patterns so line series stay apart on a black-and-white printout.
DASHES = ("", "6 3", "2 3", "8 3 2 3", "1 2", "10 4")
MAX_LEGEND_GROUPS = len(PALETTE)

DateLike = date | datetime
Number = float | int


# --------------------------------------------------------------------------- helpers


def _num(value: float) -> str:
    """A coordinate for the markup: one decimal, no "-0.0", no trailing ".0"."""
    text = f"{value:.1f}"
    if text.endswith(".0"):
        text = text[:-2]
    return "0" if text == "-0" else text


def format_number(value: float) -> str:
    """Default value label: integers as integers, others with up to 2 decimals."""
    if isinstance(value, int) or float(value).is_integer():
        return str(int(value))
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _iso(value: DateLike) -> str:
    return value.date().isoformat() if isinstance(value, datetime) else value.isoformat()


def _attrs(**attrs: object) -> str:
    """Render attributes (escaped); `None` skips one, `_` in names becomes `-`."""
    parts = []
    for name, value in attrs.items():
        if value is None:
            continue
        key = name.rstrip("_").replace("_", "-")
        parts.append(f' {key}="{escape(value)}"')
    return "".join(parts)


def _text(
    x: float,
    y: float,
    label: str,
    *,
    size: float = 12,
    anchor: str = "start",
    fill: str = INK,
    halo: bool = False,
    weight: str | None = None,
    extra: str = "",
) -> str:
    """A text element; `halo` paints a white outline under the glyphs for legibility."""
    halo_attrs = (
        ' stroke="#ffffff" stroke-width="3" stroke-linejoin="round" paint-order="stroke"'
        if halo
        else ""
    )
    return (
        f'<text x="{_num(x)}" y="{_num(y)}" font-size="{_num(size)}" '
        f'text-anchor="{anchor}" fill="{fill}"{_attrs(font_weight=weight)}'
        f"{halo_attrs}{extra}>{escape(label)}</text>"
    )


def _svg(
    width: float, height: float, title: str, desc: str, body: str, chart_id: str | None
) -> Markup:
    """Wrap a chart body in an accessible, viewBox-sized `<svg>` element."""
    if chart_id is None:
        digest = hashlib.sha1(f"{title}\n{desc}\n{body}".encode()).hexdigest()[:10]
        chart_id = f"chart-{digest}"
    cid = escape(chart_id)
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'viewBox="0 0 {_num(width)} {_num(height)}" preserveAspectRatio="xMidYMid meet" '
        f'aria-labelledby="{cid}-title {cid}-desc" font-family="{escape(FONT)}">'
        f'<title id="{cid}-title">{escape(title)}</title>'
        f'<desc id="{cid}-desc">{escape(desc)}</desc>'
        f"{body}</svg>"
    )


def empty_svg(
    empty_text: str, *, width: float = 640, height: float = 80, title: str | None = None
) -> Markup:
    """A small chart that says there is nothing to draw (the text comes translated)."""
    body = (
        f'<rect x="0.5" y="0.5" width="{_num(width - 1)}" height="{_num(height - 1)}" '
        f'rx="6" fill="#ffffff" stroke="{GRID}"/>'
        + _text(width / 2, height / 2 + 5, empty_text, size=14, anchor="middle", fill=MUTED)
    )
    return _svg(width, height, title or empty_text, empty_text, body, None)


def _safe_href(url: str) -> str | None:
    """Only relative, http(s) and mailto links; anything else (javascript:) is dropped."""
    stripped = url.strip()
    lowered = stripped.lower()
    if lowered.startswith(("http://", "https://", "mailto:", "/", "#", "?")):
        return stripped
    if ":" not in stripped.split("/", 1)[0]:
        return stripped  # relative path such as "contacts/5"
    return None


def _nice_step(span: float, target: int) -> float:
    """A round step (1, 2, 2.5, 5 x 10^k) giving about `target` intervals over `span`."""
    if span <= 0:
        return 1.0
    raw = span / max(target, 1)
    exponent = math.floor(math.log10(raw))
    base = raw / 10**exponent
    for nice in (1, 2, 2.5, 5, 10):
        if base <= nice:
            return nice * 10**exponent
    return 10 ** (exponent + 1)  # pragma: no cover - base is always <= 10


def _nice_ticks(low: float, high: float, target: int = 5) -> list[float]:
    step = _nice_step(high - low, target)
    first = math.ceil(low / step - 1e-9) * step
    ticks = []
    value = first
    while value <= high + step * 1e-9:
        ticks.append(round(value, 10))
        value += step
    return ticks


def _legend(
    entries: Sequence[tuple[str, str, str | None]], x: float, y: float, max_width: float
) -> tuple[str, float]:
    """Legend swatches in rows: entries are (label, colour, dasharray).

    A dasharray of None draws a square swatch, a string (maybe "") a line sample.

    Returns the markup and the height used. Swatches are rects or short lines, never
    circles (so circles keep meaning "a node" or "a data point").
    """
    parts = ['<g class="legend">']
    cx, cy = x, y
    row_height = 18
    for label, colour, dash in entries:
        item_width = 26 + 7 * len(label) + 14
        if cx > x and cx + item_width > x + max_width:
            cx = x
            cy += row_height
        if dash is None:
            parts.append(
                f'<rect x="{_num(cx)}" y="{_num(cy - 9)}" width="12" height="12" rx="2" '
                f'fill="{colour}" stroke="{INK}" stroke-width="0.5"/>'
            )
        else:
            parts.append(
                f'<line x1="{_num(cx)}" y1="{_num(cy - 3)}" x2="{_num(cx + 20)}" '
                f'y2="{_num(cy - 3)}" stroke="{colour}" stroke-width="2.5"'
                f"{_attrs(stroke_dasharray=dash or None)}/>"
            )
        text_x = cx + (26 if dash is not None else 17)
        parts.append(_text(text_x, cy + 1, label, size=12))
        cx += item_width
    parts.append("</g>")
    return "".join(parts), cy - y + row_height


def _truncate(label: str, max_chars: int) -> str:
    if len(label) <= max_chars:
        return label
    return label[: max(max_chars - 1, 1)] + "\u2026"


# --------------------------------------------------------------------- ego network


def _ego_layout(graph: nx.Graph, center: int, seed: int) -> dict[int, tuple[float, float]]:
    """Spring layout with the center pinned at (0, 0), scaled to [-1, 1] per axis."""
    nodes = list(graph.nodes)
    if len(nodes) == 1:
        return {center: (0.0, 0.0)}
    rng = np.random.default_rng(seed)
    start = {node: tuple(rng.uniform(-1.0, 1.0, 2)) for node in nodes}
    start[center] = (0.0, 0.0)
    raw = nx.spring_layout(graph, pos=start, fixed=[center], seed=seed, weight="weight")
    cx, cy = raw[center]
    # Each side of the center is scaled on its own, so the drawing fills the area even
    # when the spring layout leaves the pinned center off its own middle.
    dxs = [float(p[0] - cx) for p in raw.values()]
    dys = [float(p[1] - cy) for p in raw.values()]
    right, left = max(max(dxs), 0.0) or 1.0, max(-min(dxs), 0.0) or 1.0
    up, down = max(max(dys), 0.0) or 1.0, max(-min(dys), 0.0) or 1.0
    return {
        node: (dx / (right if dx >= 0 else left), dy / (up if dy >= 0 else down))
        for node, dx, dy in zip(raw, dxs, dys, strict=True)
    }


def _group_colours(
    nodes: Sequence[int], groups: dict[int, str] | None
) -> tuple[dict[int, str], list[tuple[str, str]], bool]:
    """Colour per node; the legend (largest groups first, up to 6); whether "other" is used."""
    if groups is None:
        return {node: PALETTE[0] for node in nodes}, [], False
    counts = Counter(groups[n] for n in nodes if groups.get(n))
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    colour_of = {name: PALETTE[i] for i, (name, _) in enumerate(ranked[:MAX_LEGEND_GROUPS])}
    node_colour = {}
    uses_other = False
    for node in nodes:
        colour = colour_of.get(groups.get(node) or "")
        if colour is None:
            uses_other = True
            colour = OTHER_COLOUR
        node_colour[node] = colour
    return node_colour, [(name, colour_of[name]) for name, _ in ranked[:6]], uses_other


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    return width * height if width > 0 and height > 0 else 0.0


def _place_label(
    point: tuple[float, float],
    r: float,
    text: str,
    size: float,
    mid_x: float,
    placed: list[tuple[float, float, float, float]],
    obstacles: list[tuple[float, float, float, float]],
    width: float,
    height: float,
) -> tuple[float, float, str, tuple[float, float, float, float]]:
    """Put a label right, left, above or below its node, where it covers least.

    Returns (x, baseline y, text-anchor, bounding box). Overlapping another label costs
    most, leaving the viewBox next, covering nodes least; ties go to the side facing away
    from the center.
    """
    x, y = point
    text_w = 0.6 * size * len(text)
    half_h = 0.6 * size
    outward = "right" if x >= mid_x else "left"
    sides = {
        "right": (
            x + r + 3,
            y + size * 0.35,
            "start",
            (x + r + 3, y - half_h, x + r + 3 + text_w, y + half_h),
        ),
        "left": (
            x - r - 3,
            y + size * 0.35,
            "end",
            (x - r - 3 - text_w, y - half_h, x - r - 3, y + half_h),
        ),
        "above": (
            x,
            y - r - 4,
            "middle",
            (x - text_w / 2, y - r - 4 - 2 * half_h, x + text_w / 2, y - r - 2),
        ),
        "below": (
            x,
            y + r + 3 + size,
            "middle",
            (x - text_w / 2, y + r + 2, x + text_w / 2, y + r + 4 + 2 * half_h),
        ),
    }
    order = [outward, "left" if outward == "right" else "right", "above", "below"]
    best = None
    for rank, side in enumerate(order):
        box = sides[side][3]
        area = (box[2] - box[0]) * (box[3] - box[1])
        outside = area - _overlap(box, (0, 0, width, height))
        cost = (
            10 * sum(_overlap(box, other) for other in placed)
            + 5 * outside
            + sum(_overlap(box, ob) for ob in obstacles)
            + rank * 0.5
        )
        if best is None or cost < best[0]:
            best = (cost, sides[side])
    assert best is not None
    return best[1]


def ego_network_svg(
    graph: nx.Graph,
    center: int,
    labels: dict[int, str],
    *,
    groups: dict[int, str] | None = None,
    links: dict[int, str] | None = None,
    width: int = 640,
    height: int = 420,
    seed: int = 42,
    top_labels: int = 8,
    title: str = "Network",
    description: str | None = None,
    empty_text: str = "Nothing to draw yet",
    other_label: str = "Other",
    chart_id: str | None = None,
) -> Markup:
    """A person's ego network: the center pinned in the middle, ties around it.

    Edge width follows the tie weight, node radius the degree within `graph`, node
    colour the group (`groups`, e.g. organisation name; the 6 largest get colours and a
    legend entry, the rest share grey `other_label`). Only the center and the
    `top_labels` strongest ties are labelled; every node has a `<title>` for hovering
    and, when `links` has it, is a link. The same input always draws the same SVG.
    """
    if graph.number_of_nodes() == 0 or center not in graph:
        return empty_svg(empty_text, width=width, title=title)

    nodes = list(graph.nodes)
    node_colour, legend_groups, uses_other = _group_colours(nodes, groups)
    legend_entries: list[tuple[str, str, str | None]] = [
        (name, colour, None) for name, colour in legend_groups
    ]
    if uses_other and groups is not None:
        legend_entries.append((other_label, OTHER_COLOUR, None))
    legend_markup, legend_height = "", 0.0
    if legend_entries:
        _, legend_height = _legend(legend_entries, 0, 0, width - 20)
        # Along the bottom edge, growing upwards when it needs several rows.
        legend_markup, _ = _legend(legend_entries, 10, height - legend_height + 10, width - 20)

    n = len(nodes)
    margin_x = 70.0  # room for labels left and right
    # The center stays in the middle of the viewBox, so the drawing area is symmetric
    # around it: the legend's height is kept free at the top too.
    margin_y = 26.0 + legend_height
    mid_x, mid_y = width / 2, height / 2
    plot_half_w = max(width / 2 - margin_x, 20.0)
    plot_half_h = max(height / 2 - margin_y, 20.0)

    layout = _ego_layout(graph, center, seed)
    pos = {
        node: (mid_x + x * plot_half_w, mid_y - y * plot_half_h) for node, (x, y) in layout.items()
    }

    degrees = dict(graph.degree())
    max_degree = max(degrees.values()) or 1
    # Smaller dots when the graph is crowded.
    base = 3.0 if n > 80 else 4.0
    spread = 5.0 if n > 80 else 8.0

    def radius(node: int) -> float:
        if node == center:
            return base + spread + 4
        return base + spread * math.sqrt(degrees[node] / max_degree)

    weights = [float(d.get("weight", 1.0)) for _, _, d in graph.edges(data=True)]
    max_weight = max(max(weights, default=1.0), 1e-9)
    # Thinner, fainter ties when there are many, so the picture does not turn grey.
    crowded = len(weights) > 150
    thin, thick, faint = (0.4, 2.2, 0.25) if crowded else (0.6, 3.4, 0.45)

    center_ties = sorted(
        ((other, float(d.get("weight", 1.0))) for other, d in graph[center].items()),
        key=lambda item: (-item[1], str(labels.get(item[0], item[0]))),
    )

    def name(node: int) -> str:
        return str(labels.get(node, node))

    parts = [f'<g class="edges" stroke="{EDGE_COLOUR}" stroke-linecap="round">']
    for a, b, data in graph.edges(data=True):
        w = float(data.get("weight", 1.0))
        (x1, y1), (x2, y2) = pos[a], pos[b]
        touches_center = center in (a, b)
        parts.append(
            f'<line x1="{_num(x1)}" y1="{_num(y1)}" x2="{_num(x2)}" y2="{_num(y2)}" '
            f'stroke-width="{thin + thick * min(max(w / max_weight, 0.0), 1.0):.2f}" '
            f'stroke-opacity="{0.75 if touches_center else faint}">'
            f"<title>{escape(name(a))} \u2013 {escape(name(b))}: {format_number(w)}</title>"
            "</line>"
        )
    parts.append("</g>")

    weight_to_center = dict(center_ties)
    parts.append('<g class="nodes">')
    # Center last so it is drawn on top.
    for node in [*(m for m in nodes if m != center), center]:
        x, y = pos[node]
        hover = name(node)
        if groups is not None and groups.get(node):
            hover += f" ({groups[node]})"
        if node in weight_to_center:
            hover += f": {format_number(weight_to_center[node])}"
        is_center = node == center
        circle = (
            f'<circle cx="{_num(x)}" cy="{_num(y)}" r="{_num(radius(node))}" '
            f'fill="{CENTER_COLOUR if is_center else node_colour[node]}" '
            f'stroke="{"#ffffff" if not is_center else node_colour[node]}" '
            f'stroke-width="{3 if is_center else 1}">'
            f"<title>{escape(hover)}</title></circle>"
        )
        href = _safe_href(links[node]) if links and node in links else None
        if href is not None:
            circle = f'<a href="{escape(href)}">{circle}</a>'
        parts.append(circle)
    parts.append("</g>")

    parts.append('<g class="labels">')
    obstacles = [
        (pos[m][0] - radius(m), pos[m][1] - radius(m), pos[m][0] + radius(m), pos[m][1] + radius(m))
        for m in nodes
    ]
    placed: list[tuple[float, float, float, float]] = []
    for node in [center, *(m for m, _ in center_ties[:top_labels])]:
        is_center = node == center
        text = _truncate(name(node), 32 if is_center else 24)
        size = 13 if is_center else 11
        x, y, anchor, box = _place_label(
            pos[node], radius(node), text, size, mid_x, placed, obstacles, width, height
        )
        placed.append(box)
        parts.append(
            _text(
                x, y, text, size=size, anchor=anchor, halo=True, weight="700" if is_center else None
            )
        )
    parts.append("</g>")
    parts.append(legend_markup)

    if description is None:
        description = (
            f"{name(center)}: {graph.degree(center)} direct ties, "
            f"{n} people and {graph.number_of_edges()} ties in the picture."
        )
    return _svg(width, height, title, description, "".join(parts), chart_id)


def ego_network_rows(
    graph: nx.Graph,
    center: int,
    labels: dict[int, str],
    *,
    groups: dict[int, str] | None = None,
) -> list[list[object]]:
    """The ego chart as a table: [name, group, tie weight to center, degree], strongest first.

    The center's own row comes first with an empty weight.
    """
    if center not in graph:
        return []
    rows: list[list[object]] = [
        [str(labels.get(center, center)), (groups or {}).get(center, ""), "", graph.degree(center)]
    ]
    ties = sorted(
        ((other, float(d.get("weight", 1.0))) for other, d in graph[center].items()),
        key=lambda item: (-item[1], str(labels.get(item[0], item[0]))),
    )
    for other, weight in ties:
        rows.append(
            [
                str(labels.get(other, other)),
                (groups or {}).get(other, ""),
                round(weight, 4),
                graph.degree(other),
            ]
        )
    return rows


# ----------------------------------------------------------------------- line chart


def _day_number(value: DateLike) -> float:
    """Days since 0001-01-01 (wall-clock time for datetimes; no timezone arithmetic)."""
    if isinstance(value, datetime):
        seconds = value.hour * 3600 + value.minute * 60 + value.second
        return value.toordinal() + seconds / 86400
    return float(value.toordinal())


def line_chart_svg(
    series: list[tuple[str, list[tuple[DateLike, float]]]],
    *,
    y_min: float | None = None,
    y_max: float | None = None,
    width: int = 640,
    height: int = 240,
    y_label: str = "",
    empty_text: str = "No data yet",
    date_format: Callable[[DateLike], str] | None = None,
    value_format: Callable[[float], str] | None = None,
    title: str | None = None,
    description: str | None = None,
    chart_id: str | None = None,
) -> Markup:
    """One or more time series: points with tooltips, a few ticks, a legend if > 1 series.

    `date_format` formats axis ticks and tooltips (ISO `YYYY-MM-DD` by default) and
    `value_format` the values, so callers can localise both. Values outside an explicit
    `y_min`/`y_max` are drawn at the edge.
    """
    fmt_date = date_format or _iso
    fmt_value = value_format or format_number
    cleaned = [
        (label, sorted(points, key=lambda p: _day_number(p[0])))
        for label, points in series
        if points
    ]
    if title is None:
        title = y_label or ", ".join(label for label, _ in series) or empty_text
    if not cleaned:
        return empty_svg(empty_text, width=width, title=title)

    xs = [_day_number(d) for _, points in cleaned for d, _ in points]
    ys = [float(v) for _, points in cleaned for _, v in points]
    x_low, x_high = min(xs), max(xs)
    if x_high - x_low < 1e-9:
        x_low, x_high = x_low - 1, x_high + 1
    low = min(ys) if y_min is None else y_min
    high = max(ys) if y_max is None else y_max
    if y_min is None and y_max is None and low > 0 and low < 0.3 * high:
        low = 0.0  # start at zero when the data is not far from it
    if high - low < 1e-9:
        pad = abs(high) * 0.1 or 1.0
        low = low - pad if y_min is None else low
        high = high + pad if y_max is None or high - low < 1e-9 else high
    y_ticks = _nice_ticks(low, high, 4)
    if y_min is None and y_ticks:
        low = min(low, y_ticks[0])
    if y_max is None and y_ticks:
        step = _nice_step(high - low, 4)
        if y_ticks[-1] < high - 1e-9:
            y_ticks.append(y_ticks[-1] + step)
        high = max(high, y_ticks[-1])
    y_ticks = [t for t in y_ticks if low - 1e-9 <= t <= high + 1e-9]

    legend_markup, legend_height = "", 0.0
    colours = [PALETTE[i % len(PALETTE)] for i in range(len(cleaned))]
    dashes = [DASHES[i % len(DASHES)] for i in range(len(cleaned))]
    if len(cleaned) > 1:
        entries = [(label, colours[i], dashes[i]) for i, (label, _) in enumerate(cleaned)]
        _, legend_height = _legend(entries, 0, 0, width - 20)
        legend_markup, _ = _legend(entries, 10, 14, width - 20)

    tick_labels = [fmt_value(t) for t in y_ticks]
    left = 14 + 7 * max((len(t) for t in tick_labels), default=1) + (18 if y_label else 0)
    right = 20.0
    top = 14 + legend_height
    bottom = 30.0
    plot_w = max(width - left - right, 10)
    plot_h = max(height - top - bottom, 10)

    def sx(x: float) -> float:
        return left + (x - x_low) / (x_high - x_low) * plot_w

    def sy(y: float) -> float:
        clamped = min(max(y, low), high)
        return top + plot_h - (clamped - low) / (high - low) * plot_h

    parts = [legend_markup, '<g class="axes">']
    for tick, text in zip(y_ticks, tick_labels, strict=True):
        y = sy(tick)
        parts.append(
            f'<line x1="{_num(left)}" y1="{_num(y)}" x2="{_num(left + plot_w)}" '
            f'y2="{_num(y)}" stroke="{GRID}" stroke-width="1"/>'
        )
        parts.append(_text(left - 6, y + 4, text, size=11, anchor="end", fill=MUTED))
    parts.append(
        f'<line x1="{_num(left)}" y1="{_num(top + plot_h)}" x2="{_num(left + plot_w)}" '
        f'y2="{_num(top + plot_h)}" stroke="{MUTED}" stroke-width="1"/>'
    )
    # Date ticks: evenly spaced, at most one per ~110 px, snapped to whole days.
    distinct_days = sorted({math.floor(x) for x in xs})
    count = max(min(int(plot_w // 110) + 1, len(distinct_days), 6), 1)
    if count == 1:
        tick_days = [distinct_days[len(distinct_days) // 2]]
    else:
        first, last = distinct_days[0], distinct_days[-1]
        tick_days = sorted({round(first + (last - first) * i / (count - 1)) for i in range(count)})
    for i, day in enumerate(tick_days):
        x = sx(day)
        anchor = "middle"
        if len(tick_days) > 1 and i == 0 and x - left < 40:
            anchor = "start"
        elif len(tick_days) > 1 and i == len(tick_days) - 1 and left + plot_w - x < 40:
            anchor = "end"
        parts.append(
            f'<line x1="{_num(x)}" y1="{_num(top + plot_h)}" x2="{_num(x)}" '
            f'y2="{_num(top + plot_h + 4)}" stroke="{MUTED}" stroke-width="1"/>'
        )
        parts.append(
            _text(
                x,
                top + plot_h + 17,
                fmt_date(date.fromordinal(day)),
                size=11,
                anchor=anchor,
                fill=MUTED,
            )
        )
    if y_label:
        ly = top + plot_h / 2
        parts.append(
            _text(
                12,
                ly,
                y_label,
                size=11,
                anchor="middle",
                fill=MUTED,
                extra=f' transform="rotate(-90 12 {_num(ly)})"',
            )
        )
    parts.append("</g>")

    for i, (label, points) in enumerate(cleaned):
        coords = [(sx(_day_number(d)), sy(float(v))) for d, v in points]
        parts.append(f'<g class="series"{_attrs(data_series=label)}>')
        if len(coords) > 1:
            path = " ".join(f"{_num(x)},{_num(y)}" for x, y in coords)
            parts.append(
                f'<polyline points="{path}" fill="none" stroke="{colours[i]}" '
                f'stroke-width="2" stroke-linejoin="round"'
                f"{_attrs(stroke_dasharray=dashes[i] or None)}/>"
            )
        for (x, y), (d, v) in zip(coords, points, strict=True):
            tip = f"{label}: {fmt_date(d)} \u2013 {fmt_value(float(v))}"
            parts.append(
                f'<circle cx="{_num(x)}" cy="{_num(y)}" r="3" fill="{colours[i]}" '
                f'stroke="#ffffff" stroke-width="1"><title>{escape(tip)}</title></circle>'
            )
        parts.append("</g>")

    if description is None:
        description = "; ".join(
            f"{label}: {len(points)} points from {fmt_date(points[0][0])} to "
            f"{fmt_date(points[-1][0])}, last {fmt_value(float(points[-1][1]))}"
            for label, points in cleaned
        )
    return _svg(width, height, title, description, "".join(parts), chart_id)


def line_chart_rows(
    series: list[tuple[str, list[tuple[DateLike, float]]]],
    *,
    date_format: Callable[[DateLike], str] | None = None,
) -> list[list[object]]:
    """The line chart as a table: one [series, date, value] row per point, in date order."""
    fmt_date = date_format or _iso
    return [
        [label, fmt_date(d), v]
        for label, points in series
        for d, v in sorted(points, key=lambda p: _day_number(p[0]))
    ]


# ------------------------------------------------------------------------ bar charts


def bar_chart_svg(
    items: list[tuple[str, float]],
    *,
    max_value: float | None = None,
    width: int = 480,
    bar_height: int = 22,
    value_format: Callable[[float], str] | None = None,
    colour: str = PALETTE[0],
    title: str | None = None,
    description: str | None = None,
    empty_text: str = "No data yet",
    chart_id: str | None = None,
) -> Markup:
    """Horizontal bars with a value label each; length proportional to value / max_value.

    Negative values draw as empty bars (their label still shows the value).
    """
    fmt_value = value_format or format_number
    if title is None:
        title = ", ".join(label for label, _ in items) or empty_text
    if not items:
        return empty_svg(empty_text, width=width, title=title)
    values = [float(v) for _, v in items]
    top_value = max_value if max_value is not None else max(values)
    if top_value <= 0:
        top_value = 1.0
    value_texts = [fmt_value(v) for v in values]

    longest = max(len(label) for label, _ in items)
    label_w = min(8 + 7 * longest, width * 0.4)
    max_chars = max(int((label_w - 8) / 7), 4)
    value_w = 12 + 7 * max(len(t) for t in value_texts)
    bar_area = max(width - label_w - value_w - 8, 10)
    gap = max(bar_height // 4, 3)
    height = 8 + len(items) * (bar_height + gap)

    parts = ['<g class="bars">']
    for i, ((label, _), value, text) in enumerate(zip(items, values, value_texts, strict=True)):
        y = 4 + i * (bar_height + gap)
        length = max(min(value / top_value, 1.0), 0.0) * bar_area
        mid = y + bar_height / 2 + 4
        parts.append(_text(label_w - 6, mid, _truncate(label, max_chars), size=12, anchor="end"))
        parts.append(
            f'<rect x="{_num(label_w)}" y="{_num(y)}" width="{_num(bar_area)}" '
            f'height="{bar_height}" fill="#eef1f5"/>'
        )
        parts.append(
            f'<rect x="{_num(label_w)}" y="{_num(y)}" width="{length:.2f}" '
            f'height="{bar_height}" fill="{escape(colour)}" data-value="{escape(text)}">'
            f"<title>{escape(label)}: {escape(text)}</title></rect>"
        )
        parts.append(_text(label_w + length + 6, mid, text, size=12))
    parts.append("</g>")
    if description is None:
        description = "; ".join(
            f"{label}: {text}" for (label, _), text in zip(items, value_texts, strict=True)
        )
    return _svg(width, height, title, description, "".join(parts), chart_id)


def bar_chart_rows(items: list[tuple[str, float]]) -> list[list[object]]:
    """The bar chart as a table: one [label, value] row per bar, in drawing order."""
    return [[label, value] for label, value in items]


def stacked_bar_svg(
    categories: list[str],
    series: list[tuple[str, list[float]]],
    *,
    width: int = 640,
    height: int = 260,
    value_format: Callable[[float], str] | None = None,
    title: str | None = None,
    description: str | None = None,
    empty_text: str = "No data yet",
    chart_id: str | None = None,
) -> Markup:
    """Vertical columns, one per category (e.g. month), stacked by series (e.g. tier).

    Each series needs one value per category (`ValueError` otherwise); negative values
    count as zero.
    """
    fmt_value = value_format or format_number
    for label, values in series:
        if len(values) != len(categories):
            raise ValueError(
                f"series {label!r} has {len(values)} values for {len(categories)} categories"
            )
    if title is None:
        title = ", ".join(label for label, _ in series) or empty_text
    totals = [
        sum(max(float(values[i]), 0.0) for _, values in series) for i in range(len(categories))
    ]
    if not categories or not series or not any(totals):
        return empty_svg(empty_text, width=width, title=title)

    colours = [PALETTE[i % len(PALETTE)] for i in range(len(series))]
    entries = [(label, colours[i], None) for i, (label, _) in enumerate(series)]
    _, legend_height = _legend(entries, 0, 0, width - 20)
    legend_markup, _ = _legend(entries, 10, 14, width - 20)

    ticks = _nice_ticks(0, max(totals), 4)
    if ticks[-1] < max(totals) - 1e-9:
        ticks.append(ticks[-1] + _nice_step(max(totals), 4))
    high = ticks[-1] or 1.0
    tick_labels = [fmt_value(t) for t in ticks]
    left = 14 + 7 * max(len(t) for t in tick_labels)
    top = 14 + legend_height
    bottom = 30.0
    plot_w = max(width - left - 12, 10)
    plot_h = max(height - top - bottom, 10)
    slot = plot_w / len(categories)
    bar_w = max(slot * 0.7, 1.0)
    # Label every k-th category so the labels do not overlap.
    longest = max(len(c) for c in categories)
    every = max(1, math.ceil((7 * longest + 8) / slot))

    def sy(value: float) -> float:
        return top + plot_h - value / high * plot_h

    parts = [legend_markup, '<g class="axes">']
    for tick, text in zip(ticks, tick_labels, strict=True):
        y = sy(tick)
        parts.append(
            f'<line x1="{_num(left)}" y1="{_num(y)}" x2="{_num(left + plot_w)}" '
            f'y2="{_num(y)}" stroke="{GRID}" stroke-width="1"/>'
        )
        parts.append(_text(left - 6, y + 4, text, size=11, anchor="end", fill=MUTED))
    for i, category in enumerate(categories):
        if i % every == 0:
            parts.append(
                _text(
                    left + slot * (i + 0.5),
                    top + plot_h + 17,
                    category,
                    size=11,
                    anchor="middle",
                    fill=MUTED,
                )
            )
    parts.append("</g>")

    parts.append('<g class="stacks">')
    for i, category in enumerate(categories):
        x = left + slot * i + (slot - bar_w) / 2
        base = 0.0
        for s, (label, values) in enumerate(series):
            value = max(float(values[i]), 0.0)
            if value <= 0:
                continue
            y_top, y_bottom = sy(base + value), sy(base)
            parts.append(
                f'<rect x="{_num(x)}" y="{y_top:.2f}" width="{_num(bar_w)}" '
                f'height="{y_bottom - y_top:.2f}" fill="{colours[s]}" stroke="#ffffff" '
                f'stroke-width="0.5"><title>{escape(category)}, {escape(label)}: '
                f"{escape(fmt_value(value))}</title></rect>"
            )
            base += value
    parts.append("</g>")
    if description is None:
        description = "; ".join(
            f"{category}: "
            + ", ".join(f"{label} {fmt_value(values[i])}" for label, values in series)
            for i, category in enumerate(categories)
        )
    return _svg(width, height, title, description, "".join(parts), chart_id)


def stacked_bar_rows(
    categories: list[str], series: list[tuple[str, list[float]]]
) -> tuple[list[str], list[list[object]]]:
    """The stacked chart as a table: headers ["", *series names], one row per category.

    The first header is empty for the caller to fill in (e.g. a translated "Month").
    """
    headers = ["", *(label for label, _ in series)]
    rows = [
        [category, *(values[i] for _, values in series)] for i, category in enumerate(categories)
    ]
    return headers, rows


# ------------------------------------------------------------------------------- CSV

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value: object) -> object:
    """Neutralise text a spreadsheet would run as a formula (CSV injection)."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def chart_table_csv(headers: list[str], rows: list[list[object]]) -> str:
    """A chart's numbers as CSV text (RFC 4180 line ends), for a "download as CSV" link."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([_csv_cell(h) for h in headers])
    for row in rows:
        writer.writerow([_csv_cell(cell) for cell in row])
    return buffer.getvalue()
