"""The runs explorer's shared parts: cached queries, labels, settings that differ, and state kept in the URL."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from dashboard.components.figures import metric_label, smoothed_curves_figure
from dashboard.components.state import STATUS_WORDS, duration, short_time
from db import explorer
from db.session import database_url
from engine.words import plain_number

X_AXES = {"step": "Step", "epoch": "Epoch", "time": "Time"}
SORTS = {"newest": "Newest first", "oldest": "Oldest first", "name": "Name (A to Z)"}
PERCENT_WORDS = ("accuracy", "f1", "precision", "recall")
GROUP_PREFIXES = ("train_", "val_", "test_")
SECTION_NAMES = {"model": "Model", "training": "Training", "split": "Split"}


# ---------------------------------------------------------------- cached queries
# The database URL is part of each cache key, so two databases never share cached answers.


@st.cache_data(ttl=2, show_spinner=False, max_entries=64)
def _find_runs(url: str, filters: explorer.RunFilters, sort: str, page: int, per_page: int) -> explorer.RunsPage:
    return explorer.find_runs(filters, sort=sort, page=page, per_page=per_page)


@st.cache_data(ttl=10, show_spinner=False)
def _filter_choices(url: str) -> dict[str, Any]:
    return explorer.filter_choices()


# A curve only changes when its run logs points to it, so its count and last step are part of the
# key: a finished run's curves stay cached, a live run's unchanged curves are not read again. One
# entry is one curve of at most POINTS_PER_CURVE points (a few hundred kilobytes).
@st.cache_data(ttl=600, show_spinner=False, max_entries=256)
def _curve(url: str, run_id: int, key: str, points: int, count: int, last_step: int) -> list[dict]:
    return explorer.sampled_history(run_id, key, points)


@st.cache_data(ttl=2, show_spinner=False, max_entries=32)
def _runs_for_compare(url: str, run_ids: tuple[int, ...]) -> list[dict]:
    return explorer.runs_for_compare(run_ids)


@st.cache_data(ttl=10, show_spinner=False)
def _recent_runs(url: str, limit: int) -> list[dict]:
    return explorer.recent_runs(limit)


def find_runs(filters: explorer.RunFilters, sort: str, page: int, per_page: int = 50) -> explorer.RunsPage:
    return _find_runs(database_url(), filters, sort, page, per_page)


def filter_choices() -> dict[str, Any]:
    return _filter_choices(database_url())


def history(run_id: int, summaries: dict[str, dict], keys: Iterable[str] | None = None,
            points: int = explorer.POINTS_PER_CURVE) -> dict[str, list]:
    """Give back the run's down-sampled curves for keys (default: every curve), cached while unchanged."""
    url = database_url()
    keys = [k for k in explorer.metric_order(keys if keys is not None else summaries) if k in summaries]
    return {k: _curve(url, run_id, k, points, summaries[k]["count"], summaries[k]["last_step"]) for k in keys}


def runs_for_compare(run_ids: Sequence[int]) -> list[dict]:
    return _runs_for_compare(database_url(), tuple(run_ids))


def recent_runs(limit: int = 300) -> list[dict]:
    return _recent_runs(database_url(), limit)


def clear_caches() -> None:
    for cached in (_find_runs, _filter_choices, _curve, _runs_for_compare, _recent_runs):
        cached.clear()


# ---------------------------------------------------------------- labels


def run_label(run: dict[str, Any]) -> str:
    """Give back "Run 7 · first try" (or "Run 7" when the run has no name)."""
    return f"Run {run['id']}" + (f" · {run['name']}" if run.get("name") else "")


def sort_label(sort: str) -> str:
    if sort.startswith("best:"):
        key = sort[len("best:"):]
        order = "highest" if explorer.higher_is_better(key) else "lowest"
        return f"Best {metric_label(key).lower()} ({order} first)"
    return SORTS.get(sort, sort)


def is_percent(key: str) -> bool:
    return any(word in key for word in PERCENT_WORDS)


def format_value(key: str, value: float | None) -> str:
    if value is None:
        return "—"
    if is_percent(key) and 0 <= value <= 1:
        return f"{value:.1%}"
    if float(value).is_integer() and abs(value) < 1e9:
        return f"{value:,.0f}"
    return plain_number(value, 4)


def metric_groups(summaries: dict[str, dict]) -> list[tuple[str, list[str]]]:
    """Give back [(chart title, keys)] for every metric logged more than once.

    Keys that differ only by their train_/val_/test_ start share a chart: training and validation loss
    are read together. Metrics logged once (final test results) are numbers, not curves.
    """
    groups: dict[str, list[str]] = {}
    stage = {p: i for i, p in enumerate(GROUP_PREFIXES)}
    for key in sorted(explorer.metric_order(summaries), key=lambda k: stage.get(k.split("_")[0] + "_", 3)):
        if summaries[key]["count"] < 2 and not key.startswith("train_"):  # a training curve shows from its first point
            continue
        base = next((key[len(p):] for p in GROUP_PREFIXES if key.startswith(p)), key)
        groups.setdefault(base, []).append(key)
    ordered = sorted(groups.items(), key=lambda item: (item[0] != "loss", not is_percent(item[0]), item[0]))
    charts = []
    for base, keys in ordered:
        better = "higher" if explorer.higher_is_better(base) else "lower"
        title = metric_label(base) if len(keys) > 1 else metric_label(keys[0])
        if base.endswith("loss") or explorer.higher_is_better(base) or any(w in base for w in ("error", "rmse", "mae")):
            title += f" ({better} is better)"
        charts.append((title, keys))
    return charts


SYSTEM_PREFIX = "system/"  # the computer's figures while training (processor, memory, GPU), drawn apart


def is_system(key: str) -> bool:
    return key.startswith(SYSTEM_PREFIX)


def run_charts(summaries: dict[str, dict], curves: dict[str, list], x: str = "step",
               smoothing: float = 0.0) -> list[tuple[str, go.Figure]]:
    """Give back [(title, figure)], one chart per group of curves (training and validation loss together)."""
    charts = []
    for title, keys in metric_groups(summaries):
        percent = all(is_percent(k) and 0 <= summaries[k]["min"] and summaries[k]["max"] <= 1 for k in keys)
        figure = smoothed_curves_figure({metric_label(k): curves.get(k, []) for k in keys}, title, x=x,
                                        smoothing=smoothing, percent=percent)
        charts.append((title, figure))
    return charts


VALIDATION_WORDS = {"val_accuracy": "accuracy", "val_rmse": "error (RMSE)", "val_mae": "error (MAE)",
                    "val_loss": "loss"}


def best_validation(metrics: dict[str, dict]) -> str:
    """Give back a run's best validation figure with the name of its metric: "accuracy 98.1%", "loss 0.7147"
    (accuracy first, then the error, then the loss), or "" when it has none."""
    for key, words in VALIDATION_WORDS.items():
        if key in metrics and metrics[key].get("best") is not None:
            return f"{words} {format_value(key, metrics[key]['best'])}"
    return ""


def runs_frame(runs: Sequence[dict[str, Any]], sort_key: str | None = None,
               sweeps: dict[int, str] | None = None) -> pd.DataFrame:
    """Give back the runs list's table: one row per run, with the sorted-by metric when there is one, and a
    Sweep column when sweeps ({run id: sweep name}) names the sweep of any."""
    rows = []
    for run in runs:
        metrics = run.get("metrics", {})
        item = {
            "Run": run["id"],
            "Name": run["name"] or "",
            **({"Sweep": sweeps.get(run["id"], "")} if sweeps else {}),
            "Status": STATUS_WORDS.get(run["status"], run["status"]),
            "Data set": run["dataset"],
            "Model": run["model"],
            "Tags": list(run.get("tags") or []),
            "Progress": run["progress"],
        }
        if sort_key:
            item[f"Best {metric_label(sort_key).lower()}"] = metrics.get(sort_key, {}).get("best")
        item |= {
            "Best on validation": best_validation(metrics),
            "Test accuracy": metrics.get("test_accuracy", {}).get("last"),
            "Classical reference (accuracy)": metrics.get("reference_accuracy", {}).get("last"),
            "Test error (RMSE)": metrics.get("test_rmse", {}).get("last"),
            "Classical reference (RMSE)": metrics.get("reference_rmse", {}).get("last"),
            "Started": short_time(run["started_at"] or run["created_at"]),
            "Duration": duration(explorer.run_seconds(run)),
        }
        rows.append(item)
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- settings


def _field_titles() -> dict[str, str]:
    from engine.config import SplitConfig, TrainingConfig  # pydantic only: no torch
    from engine.models.registry import MODELS

    titles = {f"training.{k}": f.title for k, f in TrainingConfig.model_fields.items() if f.title}
    titles |= {f"split.{k}": f"Split: {f.title}" for k, f in SplitConfig.model_fields.items() if f.title}
    for entry in MODELS.values():
        titles |= {f"model.{k}": f"Model: {f.title}" for k, f in entry.config.model_fields.items() if f.title}
    return titles


@st.cache_resource
def field_titles() -> dict[str, str]:
    try:
        return _field_titles()
    except Exception:  # labels are a nicety: fall back to the keys' own words
        return {}


def setting_label(key: str) -> str:
    """Give back the plain name of a setting: "training.learning_rate" -> "Learning rate"."""
    if key in ("dataset", "model.name"):
        return {"dataset": "Data set", "model.name": "Model"}[key]
    title = field_titles().get(key)
    if title:
        return title
    section, _, rest = key.partition(".")
    words = (rest or section).replace("_", " ").replace(".", " · ")
    return (f"{SECTION_NAMES[section]}: {words}" if rest and section in SECTION_NAMES else words).capitalize()


# ---------------------------------------------------------------- state kept in the URL
# A shared link must open the same view, so each choice is read from the URL on first draw and
# written back after every change.


def ids_from_text(text: str | None) -> list[int]:
    """Give back [3, 7, 12] from "3,7,12" (anything else ignored, repeats dropped)."""
    ids = [int(part) for part in (text or "").replace(" ", ",").split(",") if part.strip().isdigit()]
    return list(dict.fromkeys(ids))


def start_from_url(key: str, name: str, parse: Callable[[str | None], Any], default: Any) -> None:
    """Put the URL's value of `name` (or default) into widget `key` the first time the page draws it."""
    if key not in st.session_state:
        value = parse(st.query_params.get(name))
        st.session_state[key] = default if value in (None, "", []) else value


def keep_in_url(values: dict[str, Any]) -> None:
    """Write each value into the URL, dropping those that are empty or None."""
    for name, value in values.items():
        if isinstance(value, (list, tuple)):
            value = ",".join(str(v) for v in value)
        if value in (None, "", False):
            if name in st.query_params:
                del st.query_params[name]
        elif st.query_params.get(name) != str(value):
            st.query_params[name] = str(value)


# ---------------------------------------------------------------- what the curves show

FIGURE_WORDS = {"val_accuracy": "validation accuracy", "val_rmse": "validation error", "val_loss": "validation loss"}


def overfitting_sentence(lost: dict[str, Any], preset: str | None = None) -> str:
    """Give back, in plain words, how a run's validation figure worsened after its best epoch (from
    explorer.overfitting) and how to keep that epoch next time; preset is the one the run started from."""
    key, words = lost["key"], FIGURE_WORDS.get(lost["key"], metric_label(lost["key"]).lower())
    extreme = "highest" if lost["higher_is_better"] else "lowest"
    epoch = lost["best_epoch"]
    return (f"The {words} was {extreme} at epoch {epoch} ({format_value(key, lost['best'])}) and ended at "
            f"{format_value(key, lost['last'])}: the model over-fitted after epoch {epoch}. It went on learning its "
            "training examples by heart and got worse on new ones, and the model you have is the last epoch's. "
            "Next time turn on **Keep the best epoch** (in New run, under *Against over-fitting*)"
            + (f". The {preset} preset this run started from keeps it only when there are enough validation "
               "examples to tell the best epoch reliably, and it was off here." if preset in ("Balanced", "Best") else
               ", or use the Balanced or Best preset, which keep it when there are enough validation examples."))


def show_overfitting(run: dict[str, Any], key: str) -> None:
    """Show a note when the run's validation figure worsened after its best epoch and the run did not keep that
    epoch, with a button that trains the same settings again keeping it."""
    from dashboard.components import state
    from dashboard.components.nav import go
    from db import repo

    lost = explorer.overfitting(run)
    if lost is None:
        return
    st.warning(overfitting_sentence(lost, (run.get("config") or {}).get("preset")), icon=":material/trending_down:")
    if st.button("Train again, keeping the best epoch", key=key, icon=":material/replay:",
                 help="Queue a new run with exactly this run's settings and Keep the best epoch turned on."):
        again = repo.create_run(run["dataset_id"], run["model"], explorer.keep_best_config(run["config"], lost["key"]),
                                name=f"Run {run['id']}, keeping the best epoch")
        clear_caches()
        state.clear_caches()
        state.ensure_local_worker()
        go("run", run=again["id"])
