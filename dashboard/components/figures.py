"""Figure builders: pure functions from data to a Plotly figure, with one Trainyard look."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go

PALETTE = ["#2563eb", "#f97316", "#16a34a", "#dc2626", "#9333ea", "#0891b2", "#ca8a04", "#db2777"]
WEBGL_ABOVE = 1000

TEMPLATE = go.layout.Template(layout=go.Layout(
    colorway=PALETTE,
    font={"family": "Inter, Segoe UI, sans-serif", "size": 13, "color": "#475569"},
    paper_bgcolor="rgba(0,0,0,0)",  # transparent: readable on light and dark themes
    plot_bgcolor="rgba(0,0,0,0)",
    xaxis={"gridcolor": "rgba(148,163,184,0.25)", "zeroline": False},
    yaxis={"gridcolor": "rgba(148,163,184,0.25)", "zeroline": False},
    margin={"l": 60, "r": 20, "t": 60, "b": 50},
    legend={"orientation": "h", "x": 1, "xanchor": "right", "y": 1.02, "yanchor": "bottom"},
    title={"x": 0, "xanchor": "left", "font": {"size": 15}},
    hovermode="x unified",
))

LABELS = {
    "train_loss": "Training loss", "val_loss": "Validation loss", "train_accuracy": "Training accuracy",
    "val_accuracy": "Validation accuracy", "val_rmse": "Validation error (RMSE)", "val_mae": "Validation error (MAE)",
    "learning_rate": "Learning rate", "samples_per_second": "Examples per second", "epoch_seconds": "Seconds per epoch",
}


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
        figure.update_yaxes(tickformat=".0%", rangemode="tozero")
    return figure


def bar_figure(counts: dict[str, int], title: str, x_title: str = "", y_title: str = "Rows") -> go.Figure:
    """Give back a bar chart of counts, largest first."""
    items = sorted(counts.items(), key=lambda item: -item[1])
    figure = go.Figure(go.Bar(x=[str(k) for k, _ in items], y=[v for _, v in items], marker_color=PALETTE[0]))
    figure.update_layout(template=TEMPLATE, title={"text": title}, height=300, xaxis_title=x_title, yaxis_title=y_title,
                         hovermode="closest")
    return figure
