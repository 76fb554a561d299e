"""Compare runs: their curves overlaid, the settings that differ, settings against a result, the best run marked.

The URL carries the runs and choices (compare?runs=3,7,12&metric=val_accuracy), so a link opens the same view.
"""

import pandas as pd
import streamlit as st

from dashboard.components import explorer as ex
from dashboard.components import state
from dashboard.components.figures import (metric_label, parallel_figure, settings_scatter_figure,
                                          smoothed_curves_figure)
from dashboard.components.nav import go
from dashboard.components.text import markdown_safe
from db import explorer
from db.csv_export import frame_csv

MAX_RUNS = 50
MAX_AXES = 12

st.title("Compare runs")

recent = ex.recent_runs()
wanted = ex.ids_from_text(st.query_params.get("runs"))
labels = {r["id"]: r for r in recent} | explorer.run_labels([i for i in wanted if i not in {r["id"] for r in recent}])
ex.start_from_url("compare-runs", "runs", lambda v: [i for i in ex.ids_from_text(v) if i in labels][:MAX_RUNS], [])
chosen = st.multiselect(
    "Runs", list(labels), key="compare-runs", max_selections=MAX_RUNS,
    format_func=lambda i: f"{ex.run_label(labels[i])} ({labels[i]['model']} on {labels[i]['dataset']})",
    placeholder="Choose two runs or more",
)
ex.keep_in_url({"runs": chosen})
runs = ex.runs_for_compare(chosen)
if len(runs) < 2:
    st.info("Choose two runs or more above, or tick them in the **Runs** list and press **Compare**.")
    if st.button("Go to Runs", key="to-runs"):
        go("runs")
    st.stop()

names = {r["id"]: ex.run_label(r) for r in runs}
keys = explorer.metric_order({k for r in runs for k in r["metrics"]})
if not keys:
    st.info("None of these runs has logged a result yet. Come back when they have trained for a while.")
    st.stop()
curve_keys = [k for k in keys if any(r["metrics"].get(k, {}).get("count", 0) > 1 for r in runs)]
common = [k for k in keys if all(k in r["metrics"] for r in runs)]
default_metric = (common or keys)[0]


def _curve_for(metric: str) -> str | None:
    """Give back the curve that goes with a result: itself, or test_accuracy's validation counterpart."""
    for candidate in (metric, "val_" + metric.removeprefix("test_"), "val_loss"):
        if candidate in curve_keys:
            return candidate
    return curve_keys[0] if curve_keys else None


# Other runs can bring other metrics: a choice the new runs lack goes back to the default.
for key, options in (("compare-metric", keys), ("compare-curve", curve_keys), ("compare-result", keys)):
    if key in st.session_state and st.session_state[key] not in options:
        del st.session_state[key]
ex.start_from_url("compare-metric", "metric", lambda v: v if v in keys else None, default_metric)
ex.start_from_url("compare-curve", "curve", lambda v: v if v in curve_keys else None, _curve_for(default_metric))
ex.start_from_url("compare-x", "x", lambda v: v if v in ex.X_AXES else None, "step")


def _follow_metric() -> None:
    """A new result to judge by brings its own curve."""
    st.session_state["compare-curve"] = _curve_for(st.session_state["compare-metric"])


controls = st.columns([2, 2, 2.4, 1.6], vertical_alignment="bottom")
metric = controls[0].selectbox("Best run by", keys, key="compare-metric", format_func=metric_label,
                               on_change=_follow_metric,
                               help="The result that decides which run is best: the highest accuracy, "
                                    "or the lowest loss or error.")
curve = controls[1].selectbox("Curve", curve_keys, key="compare-curve", format_func=metric_label) \
    if curve_keys else None
x_axis = controls[2].segmented_control("Along", list(ex.X_AXES), key="compare-x", format_func=ex.X_AXES.get,
                                       required=True)
smoothing = controls[3].slider("Smoothing", 0.0, 0.99, value=0.0, step=0.01, key="compare-smooth")
ex.keep_in_url({"metric": "" if metric == default_metric else metric,
                "curve": "" if curve == _curve_for(default_metric) else curve,
                "x": "" if x_axis == "step" else x_axis})

leaders = explorer.leading_runs(runs, metric)
best = leaders[0] if len(leaders) == 1 else None
better = "highest" if explorer.higher_is_better(metric) else "lowest"
if best:
    value = ex.format_value(metric, best["metrics"][metric]["best"])
    st.success(f"**Best by {metric_label(metric).lower()}: {markdown_safe(names[best['id']])}**, "
               f"with {value} (the {better} of the {len(runs)} runs).", icon=":material/star:")
elif leaders:
    top = leaders[0]["metrics"][metric]["best"]
    value = f"{top:.2%}" if ex.is_percent(metric) and 0 <= top <= 1 else f"{top:.4g}"  # the digits the tie is at
    st.info(f"**Runs {markdown_safe(explorer.and_list(r['id'] for r in leaders))} are tied at {value}** "
            f"({metric_label(metric).lower()}, the {better} of the {len(runs)} runs): on this result none of "
            "them is better. Choose another result above to tell them apart.", icon=":material/balance:")
best_name = names[best["id"]] if best else None
tied_ids = {r["id"] for r in leaders} if len(leaders) > 1 else set()
st.caption("The address in your browser opens this same comparison: copy it to share.")

# ---------------------------------------------------------------- results
st.subheader("Results")
shown = [metric] + [k for k in keys if k != metric][:6]
table = pd.DataFrame([{
    "Best": "★" if best and run["id"] == best["id"] else "tied" if run["id"] in tied_ids else "",
    "Run": run["id"], "Name": run["name"] or "", "Data set": run["dataset"], "Model": run["model"],
    "Status": state.STATUS_WORDS.get(run["status"], run["status"]),
} | {metric_label(k): run["metrics"].get(k, {}).get("best") for k in shown} for run in runs])
st.dataframe(table, hide_index=True, key="compare-table", column_config={
    metric_label(k): st.column_config.NumberColumn(format="percent" if ex.is_percent(k) else "%.4g",
                                                   help="Best value the run reached")
    for k in shown})
st.download_button("Download this table (CSV)", data=frame_csv(table), on_click="ignore",
                   file_name="comparison.csv", mime="text/csv", icon=":material/download:", key="compare-csv")

# ---------------------------------------------------------------- curves
if curve:
    points = max(200, min(explorer.POINTS_PER_CURVE, 30_000 // len(runs)))
    series = {}
    for run in runs:
        if curve in run["metrics"]:
            series[names[run["id"]]] = ex.history(run["id"], run["metrics"], [curve], points).get(curve, [])
    title = metric_label(curve) + (" (higher is better)" if explorer.higher_is_better(curve) else " (lower is better)")
    st.plotly_chart(smoothed_curves_figure(series, title, x=x_axis, smoothing=smoothing, highlight=best_name,
                                           percent=ex.is_percent(curve), shared_time=False, height=420),
                    theme=None, key="compare-curves")

# ---------------------------------------------------------------- settings
st.subheader("Settings that differ")
settings = {run["id"]: explorer.run_settings(run) for run in runs}
differ = explorer.differing_settings(list(settings.values()))
show_all = st.toggle("Show every setting", key="compare-all-settings")
listed = list(dict.fromkeys(k for s in settings.values() for k in s)) if show_all else differ
if not listed:
    st.info("These runs have exactly the same settings.")
else:
    grid = pd.DataFrame(
        {("★ " if names[i] == best_name else "") + names[i]: [str(settings[i].get(k, "—")) for k in listed]
         for i in settings},
        index=[ex.setting_label(k) for k in listed])
    st.dataframe(grid, key="compare-settings")

axes = [k for k in differ if len({repr(s.get(k)) for s in settings.values()}) > 1][:MAX_AXES]
if axes and leaders:
    rows = [{k: settings[r["id"]].get(k) for k in axes} | {metric: r["metrics"].get(metric, {}).get("best")}
            for r in runs]
    st.plotly_chart(parallel_figure(rows, {k: ex.setting_label(k) for k in axes}, metric, metric_label(metric),
                                    explorer.higher_is_better(metric)), theme=None, key="compare-parallel")

st.subheader("One setting against one result")
numeric = [k for k in differ if all(isinstance(s.get(k), (int, float)) and not isinstance(s.get(k), bool)
                                   for s in settings.values())]
every_setting = list(dict.fromkeys(numeric + differ + [k for s in settings.values() for k in s]))
if st.session_state.get("compare-setting", every_setting[0]) not in every_setting:
    del st.session_state["compare-setting"]
left, right = st.columns(2)
setting = left.selectbox("Setting", every_setting, key="compare-setting", format_func=ex.setting_label)
result = right.selectbox("Result", keys, index=keys.index(metric), key="compare-result", format_func=metric_label)
points = [{"label": names[r["id"]], "x": settings[r["id"]].get(setting),
           "y": r["metrics"].get(result, {}).get("best"), "best": bool(best and r["id"] == best["id"])}
          for r in runs]
st.plotly_chart(settings_scatter_figure(points, ex.setting_label(setting), metric_label(result),
                                        percent=ex.is_percent(result)), theme=None, key="compare-scatter")
