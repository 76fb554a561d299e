"""Explanations on the Playground and Evaluate pages: the figures (pure functions of an explanation's plain dict),
the widgets that show them, and the child process that computes them (`python -m engine explain … --json`: it
needs PyTorch and Captum, which the dashboard never imports)."""

from __future__ import annotations

import io
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from dashboard.components.figures import TEMPLATE
from dashboard.components.text import figure_safe, markdown_safe
from dashboard.components.trained import run_engine
from engine.explain import APPROXIMATION
from engine.explain.importance import SHOWN_SCALE
from engine.serving.inputs import item_label
from engine.serving.runtime import run_folder
from engine.words import plain_number

TOWARDS, AWAY = "#16a34a", "#dc2626"  # green pushes towards the answer (or up), red away from it (or down)
HEAT = [[0.0, "rgba(255, 230, 0, 0)"], [0.35, "rgba(255, 170, 0, 0.45)"], [1.0, "rgba(220, 20, 60, 0.9)"]]


# ---------------------------------------------------------------- figures


def pushes_figure(pushes: Sequence[dict[str, Any]], regression: bool = False, title: str = "") -> go.Figure:
    """Give back horizontal bars of each column's push: right and green towards the answer, left and red away."""
    shown = list(pushes)[::-1]  # Plotly draws the first bar at the bottom; the strongest should be on top
    names = [figure_safe(p["name"]) + (f" = {_cell(p['input'])}" if p.get("input") is not None else "") for p in shown]
    figure = go.Figure(go.Bar(
        x=[p["value"] for p in shown], y=names, orientation="h",
        marker_color=[TOWARDS if p["value"] >= 0 else AWAY for p in shown],
        hovertemplate="%{y}<br>push %{x:,.3~r}<extra></extra>"))
    figure.update_layout(template=TEMPLATE, height=120 + 28 * len(shown), hovermode="closest",
                         title={"text": title or "What pushed this answer"},
                         xaxis_title=("← pushed it down · pushed it up →" if regression
                                      else "← pushed away from the answer · pushed towards it →"))
    figure.update_yaxes(type="category", automargin=True)
    return figure


def _cell(value: Any) -> str:
    return plain_number(value, 4) if isinstance(value, float) else figure_safe(value)


def importance_figure(columns: Sequence[dict[str, Any]], metric: str) -> go.Figure:
    """Give back bars of how much the test score (metric) drops when each column is shuffled, the largest on top."""
    shown = list(columns)[:20][::-1]
    scale, percent = SHOWN_SCALE[metric], metric == "accuracy"
    figure = go.Figure(go.Bar(
        x=[c["importance"] * scale for c in shown], y=[figure_safe(c["name"]) for c in shown], orientation="h",
        error_x={"type": "data", "array": [c["spread"] * scale for c in shown], "visible": True},
        marker_color="#2563eb", hovertemplate="%{y}<br>%{x:,.3~r}<extra></extra>"))
    figure.update_layout(template=TEMPLATE, height=120 + 28 * len(shown), hovermode="closest",
                         title={"text": "Which columns matter most on the test rows"},
                         xaxis_title=("points of accuracy lost when the column is shuffled" if percent
                                      else "error added when the column is shuffled"))
    figure.update_yaxes(type="category", automargin=True)
    return figure


def picture_heatmap_figure(picture: bytes | None, heatmap: Sequence[Sequence[float]], title: str = "") -> go.Figure:
    """Give back the picture as the model saw it (its size) with the attribution drawn over it: brighter, more."""
    height, width = len(heatmap), len(heatmap[0]) if heatmap else 0
    figure = go.Figure()
    if picture is not None:
        from PIL import Image

        image = Image.open(io.BytesIO(picture)).convert("RGB").resize((width, height))
        figure.add_trace(go.Image(z=np.asarray(image), hoverinfo="skip"))
    # Clear where a pixel counted little, so the picture shows through; yellow to red where it counted more.
    figure.add_trace(go.Heatmap(z=heatmap, colorscale=HEAT, zmin=0, zmax=1,
                                showscale=True, colorbar={"title": {"text": "counted"}, "tickvals": [0, 1],
                                                          "ticktext": ["little", "most"]},
                                hovertemplate="x %{x}, y %{y}<br>%{z:.0%} of the strongest<extra></extra>"))
    figure.update_layout(template=TEMPLATE, height=320, title={"text": title or "Where the model looked"},
                         margin={"l": 10, "r": 10, "t": 40, "b": 10})
    figure.update_xaxes(visible=False)
    figure.update_yaxes(visible=False, autorange="reversed", scaleanchor="x")
    return figure


def word_chips(words: Sequence[dict[str, Any]]) -> str:
    """Give back Markdown of the words, each on a background coloured by its push (user text escaped, never HTML)."""
    strongest = max((abs(w["value"]) for w in words), default=0.0) or 1.0
    chips = []
    for word in words:
        share = abs(word["value"]) / strongest
        text = markdown_safe(word["word"])
        if share < 0.15:
            chips.append(text)
            continue
        colour = "green" if word["value"] >= 0 else "red"
        chips.append(f":{colour}-background[**{text}**]" if share >= 0.5 else f":{colour}-background[{text}]")
    return " ".join(chips)


def words_legend(answer: str, regression: bool = False) -> str:
    towards, away = ("pushed the number up", "pushed it down") if regression else (
        f"pushed towards {markdown_safe(answer)}", "pushed away from it")
    return (f":green-background[green] {towards}, :red-background[red] {away}; **bold** pushed the most, plain words "
            f"barely mattered. {APPROXIMATION}")


# ---------------------------------------------------------------- showing one explanation


def show_explanation(result: dict[str, Any], kind: str, key: str, picture: bytes | None = None,
                     regression: bool | None = None) -> None:
    """Show an explanation as its kind needs: a heat map over a picture, coloured words, bars, rated items."""
    if regression is None:
        regression = "confidence" not in result and "recommendations" not in result
    answer = str(result.get("prediction", ""))
    if kind == "image":
        st.plotly_chart(picture_heatmap_figure(picture, result["heatmap"]), theme=None, key=f"{key}-heatmap")
        st.caption(f"{markdown_safe(result['sentence'])} The stronger a spot's colour, from yellow to red, the more it "
                   f"counted for the answer; where the picture shows through, it counted little. {APPROXIMATION}")
    elif kind == "text":
        st.markdown(word_chips(result["words"]))
        st.caption(words_legend(answer, regression))
    elif kind == "tabular":
        st.plotly_chart(pushes_figure(result["pushes"], regression), theme=None, key=f"{key}-pushes")
        st.caption(f"{markdown_safe(result['sentence'])} Green bars pushed "
                   + ("the number up, red ones down" if regression else f"towards {markdown_safe(answer)}, red ones "
                                                                        "away from it")
                   + f"; a column holding its typical value pushes nothing. {APPROXIMATION}")
    else:
        rows = [{"Recommended": item_label(r), "Predicted rating": r["predicted_rating"],
                 "Because this user rated": ", ".join(f"{item_label(b)} ({b['rating']:g})" for b in r["because"])}
                for r in result.get("recommendations", [])]
        st.dataframe(pd.DataFrame(rows), hide_index=True, key=f"{key}-because",
                     column_config={"Predicted rating": st.column_config.NumberColumn(format="%.2f")})
        st.caption(f"{markdown_safe(result['sentence'])} Each item is listed with the items this user rated that the "
                   f"model places nearest to it. {APPROXIMATION}")


def original_model_words(result: dict[str, Any], answer: dict[str, Any]) -> str:
    """Give back the note under an explanation shown beside the int8 version's answer: the reasons are traced
    through the original model (the int8 file has no gradients to follow), and whether it answers the same."""
    said = "These reasons are traced through the original model, of which the int8 version is an 8-bit copy"
    if "recommendations" in result or "prediction" not in result or "prediction" not in answer:
        return said + "."
    original, smaller = result["prediction"], answer["prediction"]
    if "confidence" not in answer:  # a number: the two differ a little
        return (f"{said}; the original predicts {plain_number(original, 4)} for this input, the int8 "
                f"version {plain_number(smaller, 4)}.")
    if str(original) == str(smaller):
        return f"{said}; both answer {markdown_safe(smaller)} here."
    return (f"{said}. Here they disagree: the original answers {markdown_safe(original)} and the int8 version "
            f"{markdown_safe(smaller)}, so read this as why the original answered so.")


# ---------------------------------------------------------------- computing in a child process


def _model_time(run_id: int) -> float:
    path = run_folder(run_id) / "model.pt"
    return path.stat().st_mtime if path.exists() else 0.0


@st.cache_data(show_spinner=False, max_entries=64)
def _explain_file(run_id: int, modified: float, suffix: str, content: bytes) -> tuple[bool, Any]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"input{suffix}"
        path.write_bytes(content)
        return run_engine("explain", str(run_id), str(path), timeout=120)


@st.cache_data(show_spinner=False, max_entries=64)
def _explain_user(run_id: int, modified: float, user: str, top: int) -> tuple[bool, Any]:
    return run_engine("explain", str(run_id), user, "--top", str(top), timeout=120)


def explain_answer(run_id: int, kind: str, given: Any, top: int = 10) -> dict[str, Any] | None:
    """Give back the explanation of one input (a one-row frame, a text column frame, image bytes, a user id) or show
    why there is none."""
    modified = _model_time(run_id)
    with st.spinner("Working out why (a few seconds)…"):
        if kind == "image":
            ok, answer = _explain_file(run_id, modified, ".png", bytes(given))
        elif kind == "ratings":
            ok, answer = _explain_user(run_id, modified, str(given), int(top))
        else:
            ok, answer = _explain_file(run_id, modified, ".csv", given.to_csv(index=False).encode())
    if not ok:
        st.warning(f"No explanation for this answer: {markdown_safe(answer)}")
        return None
    return answer[0]


@st.cache_data(show_spinner=False, max_entries=16)
def explain_run(run_id: int, modified: float, what: str) -> tuple[bool, Any]:
    """Give back (ok, document) of `explain RUN --mistakes` or `--importance`, once per run and model file."""
    return run_engine("explain", str(run_id), f"--{what}", timeout=600)


def run_explanation(run_id: int, what: str) -> tuple[bool, Any]:
    return explain_run(run_id, _model_time(run_id), what)


# ---------------------------------------------------------------- the Evaluate page


def _picture_of(mistake: dict[str, Any]) -> bytes | None:
    import base64

    given = mistake.get("input")
    return base64.b64decode(given.split(",", 1)[1]) if isinstance(given, str) and given.startswith("data:") else None


def explanation_on_request(run_id: int, what: str, offer: str, working: str, failed: str,
                           help: str | None = None) -> dict[str, Any] | None:
    """Offer a switch labelled offer; once it is on, give back the run's explanation of this kind (worked out under
    a spinner saying working), or say failed and why and give back None."""
    key = {"mistakes": "explain-mistakes", "importance": "column-importance"}[what]
    if not st.toggle(offer, key=key, help=help):
        return None
    with st.spinner(working):
        ok, document = run_explanation(run_id, what)
    if not ok:
        st.warning(f"{failed}: {markdown_safe(document)}")
        return None
    return document


def show_mistake_explanations(run_id: int, report: dict[str, Any]) -> None:
    """Offer, then show, why the model made its worst mistakes (computed once per run and model file)."""
    document = explanation_on_request(
        run_id, "mistakes", "Explain these mistakes", "Working out why the model got these wrong…", "No explanations",
        help="Works out what in each input pushed the model to its wrong answer (a few seconds).")
    if document is None:
        return
    pictures = {m["index"]: _picture_of(m) for m in report.get("worst_mistakes", [])}
    regression = report["task"] == "regression"
    for number, mistake in enumerate(document["mistakes"]):
        said = mistake["predicted"] if isinstance(mistake["predicted"], str) else plain_number(mistake["predicted"], 4)
        true = mistake["true"] if isinstance(mistake["true"], str) else plain_number(mistake["true"], 4)
        st.markdown(f"**Test example {mistake['index']}**: the truth is {markdown_safe(true)}, the model said "
                    f"{markdown_safe(said)}.")
        show_explanation(mistake, report["kind"], key=f"mistake-{number}", picture=pictures.get(mistake["index"]),
                         regression=regression)


def show_column_importance(run_id: int) -> None:
    """Offer, then show, which of a table's columns matter most on the test rows (permutation importance)."""
    st.caption("Shuffle one column's values between the test rows and score the model again: the more the score "
               "drops, the more the model relies on that column.")
    document = explanation_on_request(run_id, "importance", "Work out which columns matter",
                                      "Shuffling each column a few times and scoring the model again…",
                                      "It could not be worked out")
    if document is None:
        return
    st.plotly_chart(importance_figure(document["columns"], document["metric"]), theme=None,
                    key="importance")
    st.caption(f"{markdown_safe(document['sentence'])} {markdown_safe(document['note'])} The thin lines show the "
               f"spread over {document['repeats']} shuffles.")
