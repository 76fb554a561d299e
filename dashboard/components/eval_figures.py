"""Figure builders for evaluation and the playground: pure functions from report data to a Plotly figure."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go

from dashboard.components.figures import PALETTE, TEMPLATE, percent_axis
from dashboard.components.text import figure_safe
from engine.serving.inputs import item_label

MAX_BARS = 20
ANNOTATE_CELLS_UP_TO = 25  # classes; beyond that the numbers in the cells become unreadable


def confusion_matrix_figure(counts: Sequence[Sequence[int]], labels: Sequence[str], share: bool = False) -> go.Figure:
    """Give back a heatmap of true labels (rows) against predicted labels (columns).

    With share, each row shows the share of that label's examples, so rare labels read as clearly as common ones.
    """
    names = [figure_safe(label) for label in labels]
    values = [list(map(float, row)) for row in counts]
    if share:
        values = [[v / (sum(row) or 1.0) for v in row] for row in values]
    text = [[(f"{v:.0%}" if share else f"{v:.0f}") for v in row] for row in values]
    figure = go.Figure(go.Heatmap(
        z=values, x=names, y=names, colorscale="Blues", showscale=False,
        text=text if len(names) <= ANNOTATE_CELLS_UP_TO else None, texttemplate="%{text}",
        hovertemplate="true %{y}<br>predicted %{x}<br>%{text}<extra></extra>" if len(names) <= ANNOTATE_CELLS_UP_TO
        else "true %{y}<br>predicted %{x}<br>%{z}<extra></extra>"))
    side = min(900, 160 + 38 * len(names))
    figure.update_layout(template=TEMPLATE, title={"text": "What it answered for each true label"}, height=side,
                         xaxis_title="Predicted label", yaxis_title="True label", hovermode="closest")
    figure.update_xaxes(type="category", side="bottom", tickangle=-45 if len(names) > 8 else 0)
    figure.update_yaxes(type="category", autorange="reversed", automargin=True, title_standoff=12)
    return figure


def roc_figure(curves: Sequence[dict[str, Any]]) -> go.Figure:
    """Give back ROC curves ({label, fpr, tpr, auc}), with the diagonal of guessing."""
    lines = [(curve["fpr"], curve["tpr"], f"{figure_safe(curve['label'])} (area {curve['auc']:.2f})")
             for curve in curves]
    return _share_curves(lines, ([0, 1], [0, 1]), "ROC curve: found against false alarms",
                         "False alarms (share of others flagged)", "Found (share of the label caught)")


def precision_recall_figure(curves: Sequence[dict[str, Any]]) -> go.Figure:
    """Give back precision–recall curves ({label, recall, precision, average_precision}), with the line of guessing
    where there is one label (at its share of the rows)."""
    lines = [(curve["recall"], curve["precision"],
              f"{figure_safe(curve['label'])} (average {curve['average_precision']:.2f})") for curve in curves]
    share = curves[0].get("positive_share") if len(curves) == 1 else None
    return _share_curves(lines, None if share is None else ([0, 1], [share, share]),
                         "Precision–recall: found against right when flagged", "Found (recall)",
                         "Right when flagged (precision)")


def _share_curves(lines: list[tuple[Any, Any, str]], guessing: tuple[list, list] | None, title: str, x_title: str,
                  y_title: str) -> go.Figure:
    """Give back curves (x, y, name) of shares from 0 to 100 % on both axes, with guessing's line when given."""
    figure = go.Figure()
    for x, y, name in lines:
        figure.add_trace(go.Scatter(x=x, y=y, mode="lines", name=name))
    if guessing is not None:
        figure.add_trace(go.Scatter(x=guessing[0], y=guessing[1], mode="lines", name="guessing",
                                    line={"dash": "dot", "color": "#94a3b8"}))
    figure.update_layout(template=TEMPLATE, title={"text": title}, height=420, xaxis_title=x_title,
                         yaxis_title=y_title, hovermode="closest")
    figure.update_xaxes(range=[0, 1], tickformat=".0%")
    figure.update_yaxes(range=[0, 1.02], tickformat=".0%")
    return figure


def per_class_figure(per_class: Sequence[dict[str, Any]]) -> go.Figure:
    """Give back grouped bars of precision, recall and F1 for each label."""
    names = [figure_safe(c["label"]) for c in per_class]
    figure = go.Figure()
    for key, title in (("precision", "Right when it says so (precision)"), ("recall", "Found (recall)"),
                       ("f1", "F1")):
        figure.add_trace(go.Bar(x=names, y=[c[key] for c in per_class], name=title))
    figure.update_layout(template=TEMPLATE, title={"text": "How well it does on each label"}, height=360,
                         barmode="group", hovermode="x unified")
    figure.update_xaxes(type="category")
    figure.update_yaxes(range=[0, 1.02], tickformat=".0%")
    return figure


def probabilities_figure(probabilities: dict[str, float], title: str = "How sure the model is") -> go.Figure:
    """Give back horizontal bars of each label's probability, most likely on top (at most MAX_BARS labels)."""
    items = sorted(probabilities.items(), key=lambda item: -item[1])[:MAX_BARS]
    colours = [PALETTE[0]] + ["#94a3b8"] * (len(items) - 1)
    figure = go.Figure(go.Bar(
        x=[p for _, p in items], y=[figure_safe(label) for label, _ in items], orientation="h", marker_color=colours,
        text=[f"{p:.0%}" if p >= 0.005 else "<1%" for _, p in items], textposition="auto",
        hovertemplate="%{y}: %{x:.1%}<extra></extra>"))
    figure.update_layout(template=TEMPLATE, title={"text": title}, height=max(200, 70 + 32 * len(items)),
                         xaxis_title="Probability", hovermode="closest")
    figure.update_xaxes(range=[0, 1], tickformat=".0%")
    figure.update_yaxes(type="category", autorange="reversed", automargin=True)
    return figure


def top_items_figure(items: Sequence[dict[str, Any]], low: float | None = None, high: float | None = None) -> go.Figure:
    """Give back horizontal bars of recommended items ({item, predicted_rating}, and name when known), best on top."""
    figure = go.Figure(go.Bar(
        x=[i["predicted_rating"] for i in items], y=[figure_safe(item_label(i)) for i in items], orientation="h",
        marker_color=PALETTE[0], text=[f"{i['predicted_rating']:.2f}" for i in items], textposition="auto",
        hovertemplate="%{y}: %{x:.2f}<extra></extra>"))
    figure.update_layout(template=TEMPLATE, title={"text": "Recommended items and their predicted rating"},
                         height=max(200, 70 + 30 * len(items)), xaxis_title="Predicted rating", hovermode="closest")
    if low is not None and high is not None:
        figure.update_xaxes(range=[low, high])
    figure.update_yaxes(type="category", autorange="reversed", automargin=True)
    return figure


def predicted_against_true_figure(scatter: dict[str, Sequence[float]], target: str) -> go.Figure:
    """Give back predicted against true values, with the line where they would be equal."""
    true, predicted = scatter["true"], scatter["predicted"]
    trace = go.Scattergl if len(true) > 1000 else go.Scatter
    figure = go.Figure(trace(x=true, y=predicted, mode="markers", name="test examples",
                             marker={"size": 6, "opacity": 0.6, "color": PALETTE[0]}))
    if true:
        low, high = min(min(true), min(predicted)), max(max(true), max(predicted))
        figure.add_trace(go.Scatter(x=[low, high], y=[low, high], mode="lines", name="perfect",
                                    line={"dash": "dot", "color": "#94a3b8"}))
    name = figure_safe(target)
    figure.update_layout(template=TEMPLATE, title={"text": f"Predicted against true {name}"}, height=420,
                         xaxis_title=f"True {name}", yaxis_title=f"Predicted {name}", hovermode="closest")
    return figure


def error_histogram_figure(histogram: dict[str, Sequence[float]]) -> go.Figure:
    """Give back a histogram of errors (predicted minus true) from {edges, counts}."""
    edges, counts = histogram["edges"], histogram["counts"]
    centres = [(a + b) / 2 for a, b in zip(edges[:-1], edges[1:])]
    widths = [b - a for a, b in zip(edges[:-1], edges[1:])]
    figure = go.Figure(go.Bar(x=centres, y=counts, width=widths, marker_color=PALETTE[0],
                              hovertemplate="error about %{x:,.3~r}: %{y}<extra></extra>"))
    figure.update_layout(template=TEMPLATE, title={"text": "How far off it is (predicted minus true)"}, height=340,
                         xaxis_title="Error", yaxis_title="Test examples", hovermode="closest", bargap=0.05)
    return figure


def folds_figure(per_fold: Sequence[dict[str, Any]], key: str, mean: float, percent: bool = False) -> go.Figure:
    """Give back one bar per cross-validation fold for key, with the mean as a line."""
    figure = go.Figure(go.Bar(x=[f"Fold {f['fold']}" for f in per_fold], y=[f[key] for f in per_fold],
                              marker_color=PALETTE[0], name="fold"))
    figure.add_hline(y=mean, line_dash="dot", line_color=PALETTE[1], annotation_text="mean")
    figure.update_layout(template=TEMPLATE, title={"text": f"{key.replace('_', ' ').capitalize()} on each fold"},
                         height=320, hovermode="closest", showlegend=False)
    if percent:
        percent_axis(figure, [f[key] for f in per_fold] + [mean], from_zero=True)
    return figure
