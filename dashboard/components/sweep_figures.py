"""A sweep's figures: pure functions from its document (engine.search.results.sweep_document) to Plotly figures."""

from __future__ import annotations

import json
import math
from typing import Any

import plotly.graph_objects as go

from dashboard.components.figures import PALETTE, TEMPLATE, percent_axis
from dashboard.components.text import figure_safe
from db.models import RunStatus
from engine.search.space import METRIC_WORDS, metric_figure, setting_title


def metric_words(metric: str) -> str:
    words = METRIC_WORDS.get(metric, metric)
    return words[:1].upper() + words[1:]


def format_figure(metric: str, value: float | None) -> str:
    """A trial's figure as a person reads it (engine.search.space.metric_figure), or a dash when it has none."""
    return "—" if value is None else metric_figure(metric, value)


def choice_text(value: Any) -> str:
    """A setting's value in a table or on an axis: lists as '128, 64', yes/no for switches, numbers short."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def best_so_far_figure(document: dict[str, Any]) -> go.Figure:
    """Give back each finished trial's figure by trial number, with the best so far as a stepped line."""
    metric, maximize = document["metric"], document["direction"] == "maximize"
    done = sorted((t for t in document["trials"] if t["status"] == RunStatus.COMPLETED and t["value"] is not None),
                  key=lambda t: t["number"])
    stopped = [t for t in document["trials"] if t["status"] == RunStatus.PRUNED and t["value"] is not None]
    best, running = [], None
    for trial in done:
        running = trial["value"] if running is None else (max if maximize else min)(running, trial["value"])
        best.append(running)
    figure = go.Figure()
    figure.add_trace(go.Scatter(
        x=[t["number"] + 1 for t in done], y=[t["value"] for t in done], mode="markers", name="Finished trial",
        marker={"color": PALETTE[0], "size": 9}, customdata=[t["run_id"] for t in done],
        hovertemplate="Trial %{x} (run %{customdata}): %{y:,.4~r}<extra></extra>"))
    if stopped:
        figure.add_trace(go.Scatter(
            x=[t["number"] + 1 for t in stopped], y=[t["value"] for t in stopped], mode="markers",
            name="Stopped early (its last figure)", marker={"color": "#94a3b8", "size": 7, "symbol": "x"},
            hovertemplate="Trial %{x}, stopped early: %{y:,.4~r}<extra></extra>"))
    figure.add_trace(go.Scatter(
        x=[t["number"] + 1 for t in done], y=best, mode="lines", line={"shape": "hv", "color": PALETTE[1]},
        name="Best so far", hovertemplate="Best after trial %{x}: %{y:,.4~r}<extra></extra>"))
    figure.update_layout(template=TEMPLATE, title={"text": f"{metric_words(metric)} of each trial"}, height=380,
                         xaxis_title="Trial", yaxis_title=metric_words(metric), hovermode="closest",
                         legend={"y": -0.2, "yanchor": "top", "x": 0, "xanchor": "left"})
    figure.update_xaxes(dtick=1 if len(document["trials"]) <= 20 else None)
    if metric.endswith("accuracy"):
        percent_axis(figure, [y for trace in figure.data if trace.y is not None for y in trace.y])
    return figure


def _dimension(label: str, values: list[Any], log: bool) -> dict[str, Any]:
    """One axis of the parallel coordinates: numbers as they are (log scale as powers of ten), anything else as
    numbered ticks, one per value that occurs."""
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        if not log or min(present) <= 0:
            return {"label": label, "values": [math.nan if v is None else v for v in values]}
        powers = [math.nan if v is None else math.log10(v) for v in values]
        low, high = math.log10(min(present)), math.log10(max(present))
        # Ticks at 1, 2 and 5 times the powers of ten inside the range, or at its ends when none falls inside.
        ticks = [math.log10(m * 10.0 ** k) for k in range(math.floor(low), math.ceil(high) + 1) for m in (1, 2, 5)]
        ticks = [t for t in ticks if low - 1e-9 <= t <= high + 1e-9]
        ticks = ticks if len(ticks) >= 2 else sorted({low, high})
        return {"label": f"{label} (log scale)", "values": powers, "tickvals": ticks,
                "ticktext": [f"{10.0 ** t:.2g}" for t in ticks]}
    keys = list(dict.fromkeys(json.dumps(v) for v in values))
    labels = ["not used" if k == "null" else figure_safe(choice_text(json.loads(k))) for k in keys]
    return {"label": label, "values": [keys.index(json.dumps(v)) for v in values],
            "tickvals": list(range(len(keys))), "ticktext": labels}


def parallel_figure(document: dict[str, Any], model_titles: dict[str, str]) -> go.Figure | None:
    """Give back one line per finished trial across its settings to its figure (coloured by it), or None before a
    trial has finished."""
    done = [t for t in document["trials"] if t["status"] == RunStatus.COMPLETED and t["value"] is not None]
    if not done:
        return None
    models, metric = document["models"], document["metric"]
    dimensions = []
    if len(models) > 1:
        dimensions.append(_dimension("Model", [model_titles.get(t["model"], t["model"]) for t in done], False))
    for key, spec in document["space"].items():
        values = [t["params"].get(key) for t in done]
        dimensions.append(_dimension(figure_safe(setting_title(key, models)), values, bool(spec.get("log"))))
    values = [t["value"] for t in done]
    dimensions.append({"label": metric_words(metric), "values": values})
    scale = "Viridis" if document["direction"] == "maximize" else "Viridis_r"
    figure = go.Figure(go.Parcoords(
        dimensions=dimensions, line={"color": values, "colorscale": scale, "showscale": True}))
    figure.update_layout(template=TEMPLATE, height=420, margin={"l": 70, "r": 70, "t": 120, "b": 30},
                         title={"text": "Settings of each finished trial, and its result"})
    return figure


def importance_figure(importance: dict[str, float], models: list[str]) -> go.Figure:
    """Give back each setting's share of the differences between trials as horizontal bars, largest on top."""
    items = sorted(importance.items(), key=lambda item: item[1])
    figure = go.Figure(go.Bar(
        x=[share for _, share in items], y=[figure_safe(setting_title(key, models)) for key, _ in items],
        orientation="h", marker_color=PALETTE[0], hovertemplate="%{y}: %{x:.0%}<extra></extra>"))
    figure.update_layout(template=TEMPLATE, height=140 + 40 * len(items), hovermode="closest",
                         title={"text": "What mattered most: each setting's share of the differences"},
                         xaxis={"tickformat": ".0%", "rangemode": "tozero"}, yaxis={"automargin": True})
    return figure
