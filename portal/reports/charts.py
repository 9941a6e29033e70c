"""Charts (图表): pyecharts builds the ECharts options server-side; the page draws them offline.

A chart travels to the browser as JSON in a data attribute and is drawn by
static/js/charts.js with the vendored ECharts — no inline script, nothing fetched from
outside. Drill-down is a map from a category name to a (scoped) list URL.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from pyecharts import options as opts
from pyecharts.charts import Bar, Funnel, Line, Pie
from pyecharts.charts.chart import Chart

PALETTE = ["#1f6fb2", "#3fa34d", "#f0a202", "#d1495b", "#7a5195", "#00798c", "#8d99ae"]


@dataclass
class ChartSpec:
    key: str
    title: str
    options: str
    drill: dict[str, str] = field(default_factory=dict)
    height: int = 320

    @property
    def drill_json(self) -> str:
        return json.dumps(self.drill, ensure_ascii=False)


def _finish(
    chart: Chart, key: str, title: str, drill: dict[str, str] | None, height: int
) -> ChartSpec:
    chart.set_colors(PALETTE)
    return ChartSpec(
        key=key, title=title, options=chart.dump_options(), drill=drill or {}, height=height
    )


def bar(
    key: str,
    title: str,
    categories: Sequence[str],
    series: dict[str, Sequence[float]],
    drill: dict[str, str] | None = None,
    horizontal: bool = False,
    height: int = 320,
) -> ChartSpec:
    chart = Bar(init_opts=opts.InitOpts(renderer="canvas"))
    chart.add_xaxis(list(categories))
    for name, values in series.items():
        chart.add_yaxis(name, list(values), label_opts=opts.LabelOpts(is_show=False))
    if horizontal:
        chart.reversal_axis()
    chart.set_global_opts(
        tooltip_opts=opts.TooltipOpts(trigger="axis"),
        legend_opts=opts.LegendOpts(is_show=len(series) > 1),
        xaxis_opts=opts.AxisOpts(axislabel_opts=opts.LabelOpts(rotate=0 if horizontal else 30)),
    )
    return _finish(chart, key, title, drill, height)


def line(
    key: str, title: str, x: Sequence[str], series: dict[str, Sequence[float]], height: int = 320
) -> ChartSpec:
    chart = Line(init_opts=opts.InitOpts(renderer="canvas"))
    chart.add_xaxis(list(x))
    for name, values in series.items():
        chart.add_yaxis(
            name, list(values), is_smooth=True, label_opts=opts.LabelOpts(is_show=False)
        )
    chart.set_global_opts(tooltip_opts=opts.TooltipOpts(trigger="axis"))
    return _finish(chart, key, title, None, height)


def funnel(
    key: str, title: str, stages: Sequence[tuple[str, float]], drill: dict[str, str] | None = None
) -> ChartSpec:
    chart = Funnel(init_opts=opts.InitOpts(renderer="canvas"))
    chart.add(
        "",
        list(stages),
        sort_="none",
        label_opts=opts.LabelOpts(position="inside", formatter="{b}: {c}"),
    )
    chart.set_global_opts(legend_opts=opts.LegendOpts(is_show=False))
    return _finish(chart, key, title, drill, 340)


def pie(
    key: str, title: str, parts: Sequence[tuple[str, float]], drill: dict[str, str] | None = None
) -> ChartSpec:
    chart = Pie(init_opts=opts.InitOpts(renderer="canvas"))
    chart.add(
        "", list(parts), radius=["35%", "65%"], label_opts=opts.LabelOpts(formatter="{b}: {c}")
    )
    chart.set_global_opts(legend_opts=opts.LegendOpts(is_show=False))
    return _finish(chart, key, title, drill, 320)
