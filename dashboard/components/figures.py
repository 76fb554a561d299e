"""Figure builders: pure functions from data to a Plotly figure, with one Trainyard look."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from dashboard.components.text import figure_safe
from engine.models.pairs import TUNING_LOSS

PALETTE = ["#2563eb", "#f97316", "#16a34a", "#dc2626", "#9333ea", "#0891b2", "#ca8a04", "#db2777"]
WEBGL_ABOVE = 1000

TEMPLATE = go.layout.Template(layout=go.Layout(
    colorway=PALETTE,
    font={"family": "Inter, Segoe UI, sans-serif", "size": 13, "color": "#8391a7"},  # mid grey: readable on light and dark pages,
    paper_bgcolor="rgba(0,0,0,0)",  # transparent: readable on light and dark themes
    plot_bgcolor="rgba(0,0,0,0)",
    xaxis={"gridcolor": "rgba(148,163,184,0.25)", "zeroline": False},
    yaxis={"gridcolor": "rgba(148,163,184,0.25)", "zeroline": False},
    margin={"l": 60, "r": 20, "t": 60, "b": 50},
    legend={"orientation": "h", "x": 1, "xanchor": "right", "y": 1.02, "yanchor": "bottom"},
    title={"x": 0, "xanchor": "left", "font": {"size": 15}},
    hovermode="x unified",
    modebar={"orientation": "v"},  # down the right side: across the top it covered the title on a phone
))

LABELS = {
    "train_loss": "Training loss", "val_loss": "Validation loss", "train_accuracy": "Training accuracy",
    "val_accuracy": "Validation accuracy", "val_rmse": "Validation error (RMSE)", "val_mae": "Validation error (MAE)",
    "learning_rate": "Learning rate", "memory_mb": "Memory used (MB)", "samples_per_second": "Examples per second", "epoch_seconds": "Seconds per epoch",
    "kept_epoch": "Weights from epoch (the best on validation)",
    TUNING_LOSS: "Tuning on pairs: loss",
    "reference_accuracy": "Classical reference (accuracy)", "reference_rmse": "Classical reference (RMSE)",
    "system/cpu_percent": "Processor use (% of one core)", "system/memory_mb": "Memory used by the run (MB)",
    "system/gpu_utilization": "GPU use (%)", "system/gpu_memory_mb": "GPU memory used (MB)",
}


def percent_axis(figure: go.Figure, values: Sequence[Any], from_zero: bool = False) -> go.Figure:
    """Give back figure with its y axis in percent, kept within 0–100 %: the one place accuracy-like axes
    (accuracy, F1, precision, recall, stored as fractions 0–1) are set.

    The axis fits the values with a little room, from 0 % when from_zero (bars), and never passes 0 % or
    100 %: Plotly's own margins would run an accuracy of 100 % up to 150 %.
    """
    finite = [float(v) for v in values if _is_number(v) and math.isfinite(v)]
    low, high = (min(finite), max(finite)) if finite else (0.0, 1.0)
    if low < 0 or high > 1:  # not a fraction after all: percent ticks, Plotly's own range
        return figure.update_yaxes(tickformat=".0%")
    room = max(0.02, (high - low) * 0.08)
    bottom, top = (0.0 if from_zero else max(0.0, low - room)), min(1.0, high + room)
    figure.update_yaxes(range=[bottom, top], tickformat=".0%" if top - bottom >= 0.1 else ".1%")
    figure.update_traces(cliponaxis=False, selector={"type": "scatter"})  # a point at 100 % shows whole
    return figure


def metric_label(key: str) -> str:
    return LABELS.get(key, key.replace("_", " ").capitalize())


def curves_figure(history: dict[str, Sequence[dict[str, Any]]], title: str, x: str = "step",
                  y_title: str | None = None, percent: bool = False) -> go.Figure:
    """Give back a line chart with one trace per metric key from {key: [{step, epoch, value}, ...]}."""
    figure = go.Figure()
    for key, points in history.items():
        if not points:
            continue
        trace = go.Scattergl if len(points) > WEBGL_ABOVE else go.Scatter
        figure.add_trace(trace(
            x=[p[x] for p in points], y=[p["value"] for p in points], name=metric_label(key),
            mode="lines+markers" if len(points) < 60 else "lines",
        ))
    figure.update_layout(template=TEMPLATE, title={"text": title}, height=340,
                         xaxis_title={"step": "Training step", "epoch": "Epoch", "time": "Seconds"}.get(x, x),
                         yaxis_title=y_title)
    if percent:
        percent_axis(figure, [p["value"] for points in history.values() for p in points], from_zero=True)
    return figure


def bar_figure(counts: dict[str, int], title: str, x_title: str = "", y_title: str = "Rows") -> go.Figure:
    """Give back a bar chart of counts, largest first."""
    items = sorted(counts.items(), key=lambda item: -item[1])
    figure = go.Figure(go.Bar(x=[figure_safe(k) for k, _ in items], y=[v for _, v in items], marker_color=PALETTE[0]))
    figure.update_layout(template=TEMPLATE, title={"text": figure_safe(title)}, height=300,
                         xaxis_title=figure_safe(x_title), yaxis_title=figure_safe(y_title),
                         hovermode="closest")
    return figure


X_TITLES = {"step": "Training step", "epoch": "Epoch", "time": "Minutes since the start"}
FAINT = 0.25


def smooth(values: Sequence[float], weight: float) -> list[float]:
    """Give back the exponential moving average of values; weight 0 keeps them, 0.99 smooths hard.

    Debiased like TensorBoard's, so the first points are not pulled towards zero.
    """
    if weight <= 0:
        return list(values)
    smoothed, average, correction = [], 0.0, 1.0
    for value in values:
        average = weight * average + (1 - weight) * value
        correction *= weight
        smoothed.append(average / (1 - correction))
    return smoothed


def x_values(points: Sequence[dict[str, Any]], x: str, origin: float | None = None) -> list[Any]:
    """Give back the x of each point: its step, its epoch, or for "time" the minutes since origin."""
    if x == "time":
        start = points[0]["time"] if origin is None else origin
        return [(p["time"] - start) / 60 for p in points]
    if x == "epoch":
        return [p["step"] if p["epoch"] is None else p["epoch"] for p in points]
    return [p["step"] for p in points]


def smoothed_curves_figure(series: dict[str, Sequence[dict[str, Any]]], title: str, x: str = "step",
                           smoothing: float = 0.0, percent: bool = False, y_title: str | None = None,
                           highlight: str | None = None, shared_time: bool = True,
                           height: int = 340) -> go.Figure:
    """Give back a line chart with one curve per named series of points {step, epoch, value, time}.

    With smoothing the raw line stays, faint, behind the smoothed one. The highlighted series is drawn
    thicker. With shared_time the time axis starts at the earliest point of all series (curves of one
    run), otherwise at each series' own first point (curves of several runs).
    """
    figure = go.Figure()
    starts = [points[0]["time"] for points in series.values() if points]
    origin = min(starts) if starts and shared_time else None
    for i, (name, points) in enumerate(series.items()):
        if not points:
            continue
        color = PALETTE[i % len(PALETTE)]
        # Arrays, not lists: Plotly checks a list item by item, and sends arrays to the browser packed.
        xs = np.asarray(x_values(points, x, origin), dtype=float)
        ys = np.asarray([p["value"] for p in points], dtype=float)
        trace = go.Scattergl if len(points) > WEBGL_ABOVE else go.Scatter
        mode = "lines+markers" if len(points) < 60 else "lines"
        width = 3.5 if name == highlight else 2
        label = figure_safe(f"★ {name}" if name == highlight else name)
        if smoothing > 0 and len(points) > 2:
            figure.add_trace(trace(x=xs, y=ys, name=label, legendgroup=name, showlegend=False, mode="lines",
                                   opacity=FAINT, line={"color": color, "width": 1}, hoverinfo="skip"))
            ys = np.asarray(smooth(ys, smoothing))
            mode = "lines"
        figure.add_trace(trace(x=xs, y=ys, name=label, legendgroup=name, mode=mode,
                               line={"color": color, "width": width}, marker={"size": 5}))
    figure.update_layout(template=TEMPLATE, title={"text": title}, height=height,
                         xaxis_title=X_TITLES.get(x, x), yaxis_title=y_title)
    values = [p["value"] for points in series.values() for p in points]
    flat = flat_value(values)
    if percent:
        percent_axis(figure, values)
    elif flat is not None:  # a constant (a fixed learning rate): Plotly would draw it on an axis from -1 to 1
        margin = abs(flat) / 2 or 1.0
        figure.update_yaxes(range=[flat - margin, flat + margin])
    return figure


def flat_value(values: Sequence[float]) -> float | None:
    """Give back the one finite value all values share, or None when they differ or there are none."""
    finite = {v for v in values if _is_number(v) and math.isfinite(v)}
    return finite.pop() if len(finite) == 1 else None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


def parallel_figure(rows: Sequence[dict[str, Any]], settings: dict[str, str], metric: str, metric_title: str,
                    higher_is_better: bool = True) -> go.Figure:
    """Give back parallel coordinates: one line per run across its settings, ending at its metric.

    rows: [{setting: value, ..., metric: value}]; settings: {setting: axis title}. Settings that are
    not numbers become axes of labelled categories. Lines are coloured by the metric: the better, the darker.
    """
    rows = [row for row in rows if _is_number(row.get(metric))]
    dimensions = []
    for key, title in settings.items():
        values = [row.get(key) for row in rows]
        if all(_is_number(v) for v in values):
            dimensions.append({"label": figure_safe(title), "values": values})
        else:
            labels = sorted({str(v) for v in values}, key=lambda s: (len(s), s))
            index = {label: i for i, label in enumerate(labels)}
            dimensions.append({"label": figure_safe(title), "values": [index[str(v)] for v in values],
                               "tickvals": list(range(len(labels))), "ticktext": [figure_safe(t) for t in labels]})
    scores = [row[metric] for row in rows]
    dimensions.append({"label": metric_title, "values": scores})
    figure = go.Figure(go.Parcoords(
        dimensions=dimensions,
        line={"color": scores, "colorscale": [[0, "#cbd5e1"], [1, PALETTE[0]]],
              "reversescale": not higher_is_better, "showscale": False},
        labelangle=-15, labelside="top",
    ))
    figure.update_layout(template=TEMPLATE, title={"text": f"Settings against {metric_title.lower()}"}, height=420,
                         margin={"l": 70, "r": 70, "t": 110, "b": 40})
    return figure


def settings_scatter_figure(points: Sequence[dict[str, Any]], x_title: str, y_title: str,
                            percent: bool = False) -> go.Figure:
    """Give back a scatter of runs, one setting (x) against one result (y); the best run is a star.

    points: [{label, x, y, best}]. Settings that are not all numbers are shown as categories.
    """
    points = [p for p in points if _is_number(p["y"]) and p["x"] is not None]
    categorical = not all(_is_number(p["x"]) for p in points)
    figure = go.Figure()
    for best in (False, True):
        chosen = [p for p in points if bool(p.get("best")) == best]
        if not chosen:
            continue
        figure.add_trace(go.Scatter(
            x=[figure_safe(p["x"]) if categorical else p["x"] for p in chosen], y=[p["y"] for p in chosen],
            text=[figure_safe(p["label"]) for p in chosen], mode="markers+text", textposition="top center",
            name="Best run" if best else "Runs",
            marker={"size": 18 if best else 11, "symbol": "star" if best else "circle",
                    "color": PALETTE[1] if best else PALETTE[0], "line": {"width": 1, "color": "white"}},
            hovertemplate="%{text}<br>" + x_title + ": %{x}<br>" + y_title + ": %{y}<extra></extra>",
        ))
    figure.update_layout(template=TEMPLATE, title={"text": f"{y_title} against {x_title.lower()}"}, height=380,
                         xaxis_title=x_title, yaxis_title=y_title, hovermode="closest")
    xs = [p["x"] for p in points]
    if categorical:
        figure.update_xaxes(type="category")
    elif xs and min(xs) > 0 and max(xs) / min(xs) >= 100:  # learning rates and the like: spread them evenly
        figure.update_xaxes(type="log")
    if percent:
        percent_axis(figure, [p["y"] for p in points])
    return figure


def learning_rate_figure(epochs: Sequence[float], rates: Sequence[float], title: str = "Learning rate during training") -> go.Figure:
    """Give back a small line chart of the learning rate against epochs, as the chosen schedule sets it."""
    figure = go.Figure(go.Scatter(x=list(epochs), y=list(rates), mode="lines", name="Learning rate",
                                  line={"width": 2.5, "color": PALETTE[0]}, fill="tozeroy",
                                  fillcolor="rgba(37,99,235,0.12)",
                                  hovertemplate="epoch %{x:.1f}: %{y:,.3~r}<extra></extra>"))
    figure.update_layout(template=TEMPLATE, title=title, height=220, showlegend=False, hovermode="closest",
                         margin={"l": 60, "r": 20, "t": 40, "b": 40})
    figure.update_xaxes(title="Epoch", rangemode="tozero")
    figure.update_yaxes(title="Learning rate", rangemode="tozero", exponentformat="e")
    return figure
