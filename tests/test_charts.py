"""Server-drawn SVG charts: well-formed, escaped, CSP-safe, deterministic, to scale."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from datetime import date, datetime, timedelta

import networkx as nx
import pytest
from markupsafe import Markup

from app.charts import (
    bar_chart_rows,
    bar_chart_svg,
    chart_table_csv,
    ego_network_rows,
    ego_network_svg,
    line_chart_rows,
    line_chart_svg,
    stacked_bar_rows,
    stacked_bar_svg,
)

NS = "{http://www.w3.org/2000/svg}"
EVIL = "<script>alert(1)</script> & Co"


def parse(svg: Markup) -> ET.Element:
    assert isinstance(svg, Markup)
    root = ET.fromstring(str(svg))
    assert root.tag == f"{NS}svg"
    return root


def assert_safe(svg: Markup) -> ET.Element:
    """Well-formed, accessible, viewBox-sized, no inline style, no raw script."""
    text = str(svg)
    root = parse(svg)
    assert "style=" not in text
    assert "<script" not in text.lower()
    assert root.get("role") == "img"
    assert root.find(f"{NS}title") is not None
    assert root.find(f"{NS}desc") is not None
    for ref in root.get("aria-labelledby", "").split():
        assert root.find(f".//*[@id='{ref}']") is not None
    assert root.get("viewBox", "").startswith("0 0 ")
    assert root.get("width") is None and root.get("height") is None
    return root


def view_box(root: ET.Element) -> tuple[float, float]:
    _, _, width, height = (float(v) for v in root.get("viewBox").split())
    return width, height


def all_text(root: ET.Element) -> str:
    return " ".join("".join(el.itertext()) for el in root.iter(f"{NS}text"))


# ---------------------------------------------------------------------------- ego


def weighted_graph() -> nx.Graph:
    graph = nx.Graph()
    graph.add_weighted_edges_from(
        [(1, 2, 3.0), (1, 3, 1.0), (1, 4, 0.5), (2, 3, 0.7), (4, 5, 0.2), (1, 5, 0.1)]
    )
    return graph


def test_ego_one_circle_per_node_one_line_per_edge():
    graph = weighted_graph()
    labels = {n: f"Person {n}" for n in graph}
    root = assert_safe(ego_network_svg(graph, 1, labels))
    assert len(root.findall(f".//{NS}circle")) == graph.number_of_nodes()
    assert len(root.findall(f".//{NS}line")) == graph.number_of_edges()


def test_ego_center_in_middle_of_view_box_and_highlighted():
    graph = weighted_graph()
    root = assert_safe(ego_network_svg(graph, 1, {}, width=640, height=420))
    width, height = view_box(root)
    circles = root.findall(f".//{NS}circle")
    center = next(c for c in circles if c.find(f"{NS}title").text.startswith("1"))
    assert float(center.get("cx")) == pytest.approx(width / 2, abs=0.1)
    assert float(center.get("cy")) == pytest.approx(height / 2, abs=0.1)
    others = [float(c.get("r")) for c in circles if c is not center]
    assert float(center.get("r")) > max(others)
    # Every node is inside the view box.
    for c in circles:
        assert 0 <= float(c.get("cx")) <= width
        assert 0 <= float(c.get("cy")) <= height


def test_ego_edge_width_follows_weight_and_radius_follows_degree():
    graph = weighted_graph()
    root = parse(ego_network_svg(graph, 1, {}))
    widths = {
        line.find(f"{NS}title").text: float(line.get("stroke-width"))
        for line in root.iter(f"{NS}line")
    }
    assert widths["1 \u2013 2: 3"] > widths["1 \u2013 3: 1"] > widths["1 \u2013 5: 0.1"]
    graph.add_edge(2, 4, weight=1.0)  # 2 now has degree 3, 5 still has degree 2
    graph.add_edge(1, 6, weight=1.0)  # 6 has degree 1
    root = parse(ego_network_svg(graph, 1, {}))
    radius = {
        c.find(f"{NS}title").text.split(":")[0]: float(c.get("r")) for c in root.iter(f"{NS}circle")
    }
    assert radius["2"] > radius["5"] > radius["6"]


def test_ego_layout_is_deterministic():
    graph = nx.powerlaw_cluster_graph(60, 2, 0.3, seed=1)
    labels = {n: f"Person {n}" for n in graph}
    first = ego_network_svg(graph, 0, labels, seed=7)
    assert first == ego_network_svg(graph.copy(), 0, labels, seed=7)
    assert first != ego_network_svg(graph, 0, labels, seed=8)


def test_ego_labels_are_escaped_and_links_too():
    graph = weighted_graph()
    labels = {1: EVIL, 2: 'Zoë "Z" O\'Neil', 3: "A & B"}
    links = {1: "/contacts/1?a=1&b=<2>", 2: "javascript:alert(1)", 3: "https://x.test/3"}
    svg = ego_network_svg(graph, 1, labels, links=links, groups={1: EVIL, 2: "Acme"})
    root = assert_safe(svg)
    assert "<script" not in str(svg)
    assert "&lt;script&gt;" in str(svg)
    assert EVIL in all_text(root)
    hrefs = [a.get("href") for a in root.iter(f"{NS}a")]
    assert "/contacts/1?a=1&b=<2>" in hrefs  # parsed back from the escaped attribute
    assert "https://x.test/3" in hrefs
    assert not any(h.lower().startswith("javascript") for h in hrefs)
    assert len(hrefs) == 2


def test_ego_labels_only_center_and_top_ties():
    graph = nx.star_graph(30)
    for i, (a, b) in enumerate(graph.edges):
        graph[a][b]["weight"] = 1 + i
    labels = {n: f"Person {n}" for n in graph}
    root = parse(ego_network_svg(graph, 0, labels, top_labels=5))
    texts = [t.text for t in root.iter(f"{NS}text")]
    assert texts[0] == "Person 0"
    assert sorted(texts[1:]) == sorted(f"Person {n}" for n in (26, 27, 28, 29, 30))
    # Every node still has hover text.
    assert all(c.find(f"{NS}title") is not None for c in root.iter(f"{NS}circle"))


def test_ego_groups_legend_caps_at_six_then_other():
    graph = nx.star_graph(16)
    groups = {n: f"Org {n % 8}" for n in graph}
    root = assert_safe(ego_network_svg(graph, 0, {}, groups=groups, other_label="Altro"))
    legend = root.find(f".//{NS}g[@class='legend']")
    names = [t.text for t in legend.iter(f"{NS}text")]
    assert len(names) == 7 and names[-1] == "Altro"
    fills = {c.get("fill") for c in root.iter(f"{NS}circle")}
    assert "#BBBBBB" in fills
    assert len(fills) <= 8  # 6 groups, other, center


def test_ego_empty_and_single_node_and_missing_center():
    empty = assert_safe(ego_network_svg(nx.Graph(), 1, {}, empty_text="Niente da mostrare"))
    assert "Niente da mostrare" in all_text(empty)
    assert empty.find(f".//{NS}circle") is None
    missing = parse(ego_network_svg(weighted_graph(), 99, {}, empty_text="None"))
    assert "None" in all_text(missing)

    single = nx.Graph()
    single.add_node(5)
    root = assert_safe(ego_network_svg(single, 5, {5: "Solo"}))
    (circle,) = root.findall(f".//{NS}circle")
    width, height = view_box(root)
    assert float(circle.get("cx")) == width / 2 and float(circle.get("cy")) == height / 2
    assert "Solo" in all_text(root)


def test_ego_two_hundred_nodes():
    graph = nx.powerlaw_cluster_graph(200, 3, 0.2, seed=3)
    for a, b in graph.edges:
        graph[a][b]["weight"] = 0.1 + (a * b) % 7 / 3
    root = assert_safe(ego_network_svg(graph, 0, {n: f"P{n}" for n in graph}))
    assert len(root.findall(f".//{NS}circle")) == 200
    assert len(root.findall(f".//{NS}line")) == graph.number_of_edges()
    assert len(root.findall(f".//{NS}text")) <= 1 + 8


def test_ego_rows():
    graph = weighted_graph()
    rows = ego_network_rows(graph, 1, {1: "Me", 2: "Two"}, groups={2: "Acme"})
    assert rows[0] == ["Me", "", "", 4]
    assert rows[1] == ["Two", "Acme", 3.0, 2]
    assert [r[2] for r in rows[1:]] == sorted((r[2] for r in rows[1:]), reverse=True)
    assert ego_network_rows(graph, 99, {}) == []


# --------------------------------------------------------------------------- line


def points_of(root: ET.Element) -> list[ET.Element]:
    return [c for g in root.iter(f"{NS}g") if g.get("class") == "series" for c in g]


def test_line_higher_value_is_higher_on_screen():
    series = [("Score", [(date(2024, 1, 1), 0.2), (date(2024, 2, 1), 0.9)])]
    root = assert_safe(line_chart_svg(series, y_min=0, y_max=1, y_label="Score"))
    low, high = [c for c in root.iter(f"{NS}circle")]
    assert float(high.get("cy")) < float(low.get("cy"))
    assert float(high.get("cx")) > float(low.get("cx"))


def test_line_tooltips_ticks_legend_and_escaping():
    d0 = datetime(2024, 3, 1, 12, 30)
    series = [
        (EVIL, [(d0 + timedelta(days=7 * i), i / 10) for i in range(6)]),
        ("Bob", [(d0.date() + timedelta(days=10 * i), 1 - i / 10) for i in range(4)]),
    ]
    svg = line_chart_svg(series, y_label="Punteggio")
    root = assert_safe(svg)
    assert "&lt;script&gt;" in str(svg)
    tips = [c.find(f"{NS}title").text for c in root.iter(f"{NS}circle")]
    assert len(tips) == 10
    assert f"{EVIL}: 2024-03-01 \u2013 0" in tips
    legend = root.find(f".//{NS}g[@class='legend']")
    assert [t.text for t in legend.iter(f"{NS}text")] == [EVIL, "Bob"]
    assert "Punteggio" in all_text(root)
    assert len(root.findall(f".//{NS}polyline")) == 2


def test_line_single_series_has_no_legend_and_date_format_is_used():
    series = [("Only", [(date(2024, 1, d), d) for d in (1, 5, 20)])]
    root = assert_safe(line_chart_svg(series, date_format=lambda d: d.strftime("%d/%m/%Y")))
    assert root.find(f".//{NS}g[@class='legend']") is None
    assert "01/01/2024" in all_text(root)
    assert "2024-01-01" not in str(line_chart_svg(series, date_format=lambda d: "x"))


def test_line_single_point_and_flat_values():
    one = assert_safe(line_chart_svg([("One", [(date(2024, 1, 1), 5.0)])]))
    assert len(one.findall(f".//{NS}circle")) == 1
    flat = assert_safe(line_chart_svg([("Flat", [(date(2024, 1, d), 3.0) for d in (1, 2, 3)])]))
    ys = {c.get("cy") for c in flat.iter(f"{NS}circle")}
    assert len(ys) == 1


def test_line_values_outside_explicit_range_stay_inside_the_plot():
    series = [("S", [(date(2024, 1, 1), -5.0), (date(2024, 1, 2), 50.0)])]
    root = parse(line_chart_svg(series, y_min=0, y_max=1, height=240))
    for c in root.iter(f"{NS}circle"):
        assert 0 <= float(c.get("cy")) <= 240


def test_line_empty():
    for series in ([], [("Nobody", [])]):
        root = assert_safe(line_chart_svg(series, empty_text="Ancora nessun dato"))
        assert "Ancora nessun dato" in all_text(root)
        assert root.find(f".//{NS}circle") is None


def test_line_rows_sorted_by_date():
    series = [("A", [(date(2024, 2, 1), 2.0), (date(2024, 1, 1), 1.0)])]
    assert line_chart_rows(series) == [["A", "2024-01-01", 1.0], ["A", "2024-02-01", 2.0]]


# ---------------------------------------------------------------------------- bars


def bar_widths(root: ET.Element) -> list[float]:
    return [float(r.get("width")) for r in root.iter(f"{NS}rect") if r.get("data-value")]


def test_bars_are_proportional_and_labelled():
    items = [("Recency", 0.8), ("Frequency", 0.4), (EVIL, 0.2), ("Zero", 0.0)]
    svg = bar_chart_svg(items, max_value=1.0, value_format=lambda v: f"{v:.0%}")
    root = assert_safe(svg)
    widths = bar_widths(root)
    assert widths[0] == pytest.approx(2 * widths[1], rel=0.01)
    assert widths[1] == pytest.approx(2 * widths[2], rel=0.01)
    assert widths[3] == 0
    text = all_text(root)
    assert "80%" in text and "40%" in text
    assert "<script" not in str(svg)


def test_bars_default_max_is_largest_value():
    root = parse(bar_chart_svg([("Inner", 5), ("Active", 20), ("Dormant", 10)]))
    widths = bar_widths(root)
    assert widths[1] == max(widths)
    assert widths[2] == pytest.approx(widths[1] / 2, rel=0.01)
    assert "20" in all_text(root)


def test_bars_height_grows_with_items_and_empty():
    short = view_box(parse(bar_chart_svg([("a", 1)], bar_height=22)))[1]
    tall = view_box(parse(bar_chart_svg([("a", 1)] * 5, bar_height=22)))[1]
    assert tall > 4 * short * 0.8
    root = assert_safe(bar_chart_svg([], empty_text="Vuoto"))
    assert "Vuoto" in all_text(root)
    assert bar_chart_rows([("a", 1.0)]) == [["a", 1.0]]


def test_stacked_bars_stack_and_are_proportional():
    months = ["2024-01", "2024-02"]
    series = [("Inner", [1.0, 2.0]), (EVIL, [3.0, 2.0])]
    svg = stacked_bar_svg(months, series)
    root = assert_safe(svg)
    rects = [r for g in root.iter(f"{NS}g") if g.get("class") == "stacks" for r in g]
    assert len(rects) == 4
    heights = [float(r.get("height")) for r in rects]
    # Both columns total 4, so they are equally tall; the segments are 1:3 and 2:2.
    assert heights[0] + heights[1] == pytest.approx(heights[2] + heights[3], abs=0.05)
    assert heights[1] == pytest.approx(3 * heights[0], rel=0.01)
    assert heights[2] == pytest.approx(heights[3], rel=0.01)
    # The second segment sits on top of the first.
    assert float(rects[1].get("y")) + heights[1] == pytest.approx(
        float(rects[0].get("y")), abs=0.05
    )
    assert "<script" not in str(svg)
    legend = root.find(f".//{NS}g[@class='legend']")
    assert [t.text for t in legend.iter(f"{NS}text")] == ["Inner", EVIL]


def test_stacked_bars_empty_and_mismatch():
    assert "Vuoto" in all_text(parse(stacked_bar_svg([], [], empty_text="Vuoto")))
    assert "Vuoto" in all_text(parse(stacked_bar_svg(["a"], [("s", [0.0])], empty_text="Vuoto")))
    with pytest.raises(ValueError):
        stacked_bar_svg(["a", "b"], [("s", [1.0])])
    headers, rows = stacked_bar_rows(["a", "b"], [("x", [1, 2]), ("y", [3, 4])])
    assert headers == ["", "x", "y"] and rows == [["a", 1, 3], ["b", 2, 4]]


# ----------------------------------------------------------------------------- CSV


def test_chart_table_csv_round_trips_and_blocks_formulas():
    text = chart_table_csv(
        ["Name", "Date", "Score"],
        [['Ada, "the" first', date(2024, 1, 2), 0.5], ["=HYPERLINK(1)", None, -1]],
    )
    rows = list(csv.reader(io.StringIO(text)))
    assert rows == [
        ["Name", "Date", "Score"],
        ['Ada, "the" first', "2024-01-02", "0.5"],
        ["'=HYPERLINK(1)", "", "-1"],
    ]
    assert text.endswith("\r\n")


def test_no_style_attribute_anywhere():
    graph = nx.powerlaw_cluster_graph(60, 2, 0.3, seed=1)
    outputs = [
        ego_network_svg(graph, 0, {}, groups={n: str(n % 9) for n in graph}),
        line_chart_svg([("a", [(date(2024, 1, 1), 1)]), ("b", [(date(2024, 1, 3), 2)])]),
        bar_chart_svg([("a", 1)]),
        stacked_bar_svg(["m"], [("a", [1])]),
        ego_network_svg(nx.Graph(), 0, {}),
    ]
    for svg in outputs:
        root = assert_safe(svg)
        assert all("style" not in el.attrib for el in root.iter())
