"""Charts as SVG rendered by pygal, shown as <img> data URIs.

An <img> SVG runs no script (pygal embeds a tooltip config script) and cannot reach the page,
so labels taken from data (campaign, language, regime names) cannot inject anything; pygal
escapes them as XML text anyway. The numbers behind every chart are in a table next to it.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence

import pygal
from pygal.style import Style

from dashboards.metrics import Campaign, ConsentSummary, Slice

# Every text at least 14 px in the SVG, and the SVG about as wide as the column it is shown
# in (WIDTH): an <img> scales its text with it, and pygal's defaults (10-11 px labels on a
# 760 px chart shown in a 490 px column) came out at 7 px.
STYLE = Style(
    background="white", plot_background="white", foreground="#222", foreground_strong="#111",
    foreground_subtle="#bbb", font_family="system-ui, sans-serif", title_font_size=17,
    label_font_size=14, major_label_font_size=14, legend_font_size=14, value_font_size=14,
    value_label_font_size=14, tooltip_font_size=14, no_data_font_size=24,
    colors=("#2e7d32", "#c62828", "#1565c0", "#f9a825", "#6a1b9a", "#00838f", "#8d6e63"))
WIDTH = 560
ACTION_LABELS = {"accept_all": "Accept all", "reject_all": "Reject all", "custom": "Custom"}


def _opts(title: str, **kw: object) -> dict[str, object]:
    return {"title": title, "style": STYLE, "js": [], "disable_xml_declaration": True,
            "width": WIDTH, "height": 340, "legend_at_bottom": True, "print_values": False,
            "truncate_label": 24, **kw}


def data_uri(chart: pygal.graph.graph.Graph) -> str:
    svg = chart.render()  # str when the XML declaration is off
    raw = svg.encode("utf-8") if isinstance(svg, str) else svg
    return "data:image/svg+xml;base64," + base64.b64encode(raw).decode("ascii")


def _label(key: str) -> str:
    return key or "(not recorded)"


def action_share(s: ConsentSummary, title: str = "Share of decisions") -> str:
    c = pygal.Pie(**_opts(title, inner_radius=0.45, width=420))
    for a in ("accept_all", "reject_all", "custom"):
        c.add(ACTION_LABELS[a], s.total.actions.get(a, 0))
    return data_uri(c)


def purpose_rates(s: ConsentSummary,
                  title: str = "Consent rate per purpose (% of decisions)") -> str:
    c = pygal.HorizontalBar(**_opts(title, range=(0, 100),
                                    show_legend=False))
    c.x_labels = s.purposes
    c.add("rate", [round(100 * (s.total.rate(p) or 0), 1) for p in s.purposes])
    return data_uri(c)


def actions_over(slices: Sequence[Slice], title: str, *, dates: bool) -> str:
    c = pygal.StackedBar(**_opts(title, x_label_rotation=45 if dates else 0,
                                 show_minor_x_labels=False))
    c.x_labels = [_label(x.key) for x in slices]
    if dates and len(slices) > 16:
        step = max(1, len(slices) // 12)
        c.x_labels_major = [_label(x.key) for x in slices[::step]]
    for a in ("accept_all", "reject_all", "custom"):
        c.add(ACTION_LABELS[a], [x.actions.get(a, 0) for x in slices])
    return data_uri(c)


def rates_by(slices: Sequence[Slice], purposes: list[str], title: str) -> str:
    c = pygal.Bar(**_opts(title, range=(0, 100)))
    c.x_labels = [_label(x.key) for x in slices]
    for p in purposes:
        c.add(p, [round(100 * (x.rate(p) or 0), 1) for x in slices])
    return data_uri(c)


def campaigns_overview(cs: Sequence[Campaign], title: str = "Engagement per campaign") -> str:
    c = pygal.Bar(**_opts(title, x_label_rotation=20))
    c.x_labels = [x.name for x in cs]
    c.add("human opens", [x.human_opens for x in cs])
    c.add("machine opens", [x.machine_opens for x in cs])
    c.add("human clicks", [x.human_clicks for x in cs])
    c.add("scanner clicks", [x.machine_clicks for x in cs])
    c.add("unsubscribes", [x.unsubscribed for x in cs])
    c.add("sends", [x.sends for x in cs])  # last: the other series keep their colours
    return data_uri(c)


def by_class(counts: dict[tuple[str, bool], int], title: str) -> str:
    c = pygal.HorizontalStackedBar(**_opts(title, height=240))
    rows = sorted(counts.items(), key=lambda kv: (kv[0][1], -kv[1]))
    c.x_labels = ["human", "machine"]
    for (cls, machine), n in rows:
        c.add(cls, [None, n] if machine else [n, None])
    return data_uri(c)


def campaign_days(cp: Campaign, title: str = "{name}: engagement by day") -> str:
    days = sorted(cp.by_day)
    c = pygal.Bar(**_opts(title.format(name=cp.name), x_label_rotation=45 if len(days) > 8
                          else 0))
    c.x_labels = days
    for series in ("human opens", "machine opens", "human clicks", "machine clicks",
                   "unsubscribes", "sends"):
        c.add(series, [cp.by_day[d].get(series, 0) for d in days])
    return data_uri(c)
