"""Runs: every stored run with its status, progress and result; open one to see its curves."""

import pandas as pd
import streamlit as st

from dashboard.components import state
from dashboard.components.nav import go

st.title("Runs")

RESULT_KEYS = [("test_accuracy", "Test accuracy"), ("test_rmse", "Test error (RMSE)")]


def best_validation(metrics: dict) -> float | None:
    if "val_accuracy" in metrics:
        return metrics["val_accuracy"]["max"]
    if "val_loss" in metrics:
        return metrics["val_loss"]["min"]
    return None


def runs_table(runs: list[dict]) -> pd.DataFrame:
    rows = []
    for run in runs:
        metrics = run.get("metrics", {})
        rows.append({
            "Run": run["id"],
            "Name": run["name"] or "",
            "Status": state.STATUS_WORDS.get(run["status"], run["status"]),
            "Data set": run["dataset"],
            "Model": run["model"],
            "Progress": run["progress"],
            "Best validation": best_validation(metrics),
            "Test accuracy": metrics.get("test_accuracy", {}).get("last"),
            "Test error (RMSE)": metrics.get("test_rmse", {}).get("last"),
            "Started": state.short_time(run["started_at"] or run["created_at"]),
        })
    return pd.DataFrame(rows)


live = st.toggle("Live updates", value=True, help="Refresh the list every two seconds while runs train.")


@st.fragment(run_every="2s" if live else None)
def runs_list() -> None:
    runs = state.runs()
    if not runs:
        st.info("No runs yet. Go to **New run**, pick a data set and press **Train**.")
        return
    active = sum(r["status"] in ("queued", "running") for r in runs)
    st.caption(f"{len(runs)} runs, {active} waiting or training.")
    table = runs_table(runs)
    selection = st.dataframe(
        table, hide_index=True, on_select="rerun", selection_mode="single-row", key="runs-table",
        column_config={
            "Progress": st.column_config.ProgressColumn("Progress", min_value=0.0, max_value=1.0, format="percent"),
            "Best validation": st.column_config.NumberColumn(format="%.4f", help="Highest validation accuracy, "
                                                             "or lowest validation loss for numbers"),
            "Test accuracy": st.column_config.NumberColumn(format="percent"),
            "Test error (RMSE)": st.column_config.NumberColumn(format="%.4g"),
        },
    )
    rows = selection.selection.rows if selection else []
    if rows:
        go("run", run=int(table.iloc[rows[0]]["Run"]))


runs_list()

all_runs = state.runs()
if all_runs:
    labels = {r["id"]: f"Run {r['id']}{' — ' + r['name'] if r['name'] else ''} ({r['model']} on {r['dataset']})"
              for r in all_runs}
    left, right = st.columns([3, 1], vertical_alignment="bottom")
    picked = left.selectbox("Open a run", list(labels), format_func=labels.get, key="open-run")
    if right.button("Open", key="open-run-button"):
        go("run", run=picked)
