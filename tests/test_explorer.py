"""The runs explorer: its queries on a real SQLite file, and the Runs, Run details and Compare pages in AppTest."""

import base64
import json
import math
import random
from datetime import datetime

import numpy as np
import pytest
from sqlalchemy import func, select
from streamlit.testing.v1 import AppTest

from dashboard.components import explorer as dashboard_explorer
from db import explorer, repo
from db.models import MetricExtreme, MetricSummary
from db.session import session_scope
from tests.conftest import open_page as open_any_page, page_texts
from tests.factories import make_dataset, make_run, ratings_run


# ---------------------------------------------------------------- seeding


@pytest.fixture
def runs(home):
    """Five runs on two data sets: two finished MLPs, a failed LSTM, one training, one waiting."""
    customers, reviews = make_dataset("customers"), make_dataset("reviews", "text")
    return {
        "baseline": make_run(customers, name="baseline", tags=["baseline"], lr=0.001, accuracy=0.80,
                             created=datetime(2026, 1, 10, 9, 0)),
        "wide": make_run(customers, name="wide net", tags=["wide", 'say "hi" 100%_'], lr=0.01, accuracy=0.90),
        "lstm": make_run(reviews, "lstm", name="lstm try", status="failed", lr=0.001, accuracy=0.60),
        "training": make_run(reviews, name="training now", status="running", accuracy=0.70),
        "waiting": make_run(reviews, "transformer", status="queued"),
    }


def ids(page) -> list[int]:
    return [run["id"] for run in page.runs]


# ---------------------------------------------------------------- the runs list


def test_filters_each_narrow_the_list(runs):
    find = lambda **kw: ids(explorer.find_runs(explorer.RunFilters(**kw)))  # noqa: E731
    everything = find()
    assert set(everything) == {r["id"] for r in runs.values()}
    customers = runs["baseline"]["dataset_id"]
    assert set(find(dataset_ids=(customers,))) == {runs["baseline"]["id"], runs["wide"]["id"]}
    assert find(models=("lstm",)) == [runs["lstm"]["id"]]
    assert set(find(statuses=("running", "queued"))) == {runs["training"]["id"], runs["waiting"]["id"]}
    assert find(tags=("baseline",)) == [runs["baseline"]["id"]]
    assert find(tags=('say "hi" 100%_',)) == [runs["wide"]["id"]]  # quotes, % and _ are plain characters
    assert find(tags=("say",)) == []
    assert find(created_to=datetime(2026, 1, 31).date()) == [runs["baseline"]["id"]]
    assert runs["baseline"]["id"] not in find(created_from=datetime(2026, 2, 1).date())
    # The best validation accuracy is the highest reached; the best loss the lowest.
    assert set(find(best_ranges=(("val_accuracy", 0.75, None),))) == {runs["baseline"]["id"], runs["wide"]["id"]}
    assert find(best_ranges=(("val_accuracy", 0.75, 0.85),)) == [runs["baseline"]["id"]]
    assert find(best_ranges=(("val_loss", None, 0.35),)) == [runs["wide"]["id"]]


def test_search_matches_names_numbers_models_and_data_sets(runs):
    search = lambda text: set(ids(explorer.find_runs(explorer.RunFilters(search=text))))  # noqa: E731
    assert search("WIDE") == {runs["wide"]["id"]}
    assert search(str(runs["lstm"]["id"])) >= {runs["lstm"]["id"]}
    assert search("transformer") == {runs["waiting"]["id"]}
    assert search("review") == {runs["lstm"]["id"], runs["training"]["id"], runs["waiting"]["id"]}
    assert search("100%") == set()  # % is not a wildcard


def test_sort_by_a_metrics_best_value_puts_runs_without_it_last(runs):
    by_accuracy = ids(explorer.find_runs(sort="best:val_accuracy"))
    assert by_accuracy[:4] == [runs[k]["id"] for k in ("wide", "baseline", "training", "lstm")]
    assert by_accuracy[-1] == runs["waiting"]["id"]
    by_loss = ids(explorer.find_runs(sort="best:val_loss"))
    assert by_loss[:4] == [runs[k]["id"] for k in ("wide", "baseline", "training", "lstm")]
    assert ids(explorer.find_runs(sort="oldest"))[0] == runs["baseline"]["id"]
    assert ids(explorer.find_runs(sort="newest"))[-1] == runs["baseline"]["id"]


def test_pages_of_runs(runs):
    first = explorer.find_runs(per_page=2)
    assert (first.total, first.pages, len(first.runs)) == (5, 3, 2)
    last = explorer.find_runs(page=99, per_page=2)  # past the end: the last page
    assert (last.page, len(last.runs)) == (3, 1)
    seen = [i for p in (1, 2, 3) for i in ids(explorer.find_runs(page=p, per_page=2))]
    assert sorted(seen) == sorted(r["id"] for r in runs.values())


def test_filter_choices(runs):
    choices = explorer.filter_choices()
    assert [d["name"] for d in choices["datasets"]] == ["customers", "reviews"]
    assert choices["models"] == ["lstm", "mlp", "transformer"]
    assert choices["tags"] == ["baseline", 'say "hi" 100%_', "wide"]
    assert list(choices["metrics"])[:2] == ["test_accuracy", "val_accuracy"]
    assert choices["metrics"]["val_accuracy"]["high"] == pytest.approx(0.90)
    assert choices["metrics"]["val_loss"]["low"] == pytest.approx(0.30 + 0.5 / 20)


def test_archive_hides_runs_and_restore_brings_them_back(runs):
    changed = explorer.archive_runs([runs["baseline"]["id"], runs["training"]["id"]])
    assert changed == [runs["baseline"]["id"]]  # a training run is left alone
    assert runs["baseline"]["id"] not in ids(explorer.find_runs())
    assert ids(explorer.find_runs(explorer.RunFilters(archived=True))) == [runs["baseline"]["id"]]
    assert explorer.archive_runs([runs["baseline"]["id"]], archived=False) == [runs["baseline"]["id"]]
    assert runs["baseline"]["id"] in ids(explorer.find_runs())


def test_delete_removes_runs_with_their_files_but_not_a_training_one(runs, home):
    doomed, training = runs["baseline"]["id"], runs["training"]["id"]
    folder = home / "runs" / str(doomed)
    folder.mkdir(parents=True)
    (folder / "model.pt").write_bytes(b"weights")
    repo.add_artifact(doomed, "model", str(folder / "model.pt"), 7, "0" * 64)
    outside = home.parent / f"{home.name}-keep.txt"
    outside.write_text("not Trainyard's")
    repo.add_artifact(doomed, "export", str(outside), 1, "0" * 64)
    child = repo.create_run(runs["baseline"]["dataset_id"], "mlp", {}, parent_run_id=doomed)

    outcome = explorer.delete_runs([doomed, training])
    assert outcome.deleted == [doomed] and outcome.training == [training]
    assert repo.get_run(doomed) is None and repo.get_run(training) is not None
    assert not folder.exists() and outside.exists()
    assert repo.metric_history(doomed) == [] and repo.list_events(doomed) == []
    assert repo.get_run(child["id"])["parent_run_id"] is None


def test_notes_tags_and_exports(runs):
    run_id = runs["wide"]["id"]
    saved = explorer.update_run_details(run_id, "  wider  ", "Tried 512 units.", ["demo", " demo ", "", "x" * 80])
    assert saved == {"name": "wider", "notes": "Tried 512 units.", "tags": ["demo", "x" * 50]}
    assert repo.get_run(run_id)["tags"] == ["demo", "x" * 50]
    lines = explorer.metrics_csv(run_id).splitlines()
    assert lines[0] == "key,step,epoch,value,time" and len(lines) == 1 + 20 + 2 + 2 + 1
    document = explorer.run_document(run_id)
    json.dumps(document)
    assert document["summary"]["test_accuracy"] == pytest.approx(0.88)
    assert document["best"]["val_loss"]["value"] == pytest.approx(0.30 + 0.5 / 20)
    assert document["duration_seconds"] == 300


def test_compare_document(runs):
    document = explorer.compare_document([runs["baseline"]["id"], runs["wide"]["id"], runs["lstm"]["id"]])
    json.dumps(document)
    assert document["metric"] == "test_accuracy" and document["best_run"] == runs["wide"]["id"]
    assert document["settings_that_differ"] == {
        "dataset": {str(runs["baseline"]["id"]): "customers", str(runs["wide"]["id"]): "customers",
                    str(runs["lstm"]["id"]): "reviews"},
        "model.name": {str(runs["baseline"]["id"]): "mlp", str(runs["wide"]["id"]): "mlp",
                       str(runs["lstm"]["id"]): "lstm"},
        "training.learning_rate": {str(runs["baseline"]["id"]): 0.001, str(runs["wide"]["id"]): 0.01,
                                   str(runs["lstm"]["id"]): 0.001},
    }
    by_loss = explorer.compare_document([runs["baseline"]["id"], runs["lstm"]["id"]], "val_loss")
    assert by_loss["best_run"] == runs["baseline"]["id"] and by_loss["higher_is_better"] is False
    assert by_loss["runs"][1]["best"]["val_accuracy"] == pytest.approx(0.60)


def test_higher_is_better():
    assert explorer.higher_is_better("val_accuracy") and explorer.higher_is_better("test_f1_macro")
    assert explorer.higher_is_better("samples_per_second")
    assert not explorer.higher_is_better("val_loss") and not explorer.higher_is_better("test_rmse")


# ---------------------------------------------------------------- down-sampling


def reference_sample(points: list[tuple[int, float]], buckets: int) -> list[int]:
    """The steps a bucketed min/max down-sampling must keep, computed the slow way."""
    first, last = points[0][0], points[-1][0]
    width = max(1, math.ceil((last - first + 1) / buckets))
    keep = {first, last}
    groups: dict[int, list] = {}
    for step, value in points:
        groups.setdefault((step - first) // width, []).append((step, value))
    for group in groups.values():
        keep.add(min(group, key=lambda p: (p[1], p[0]))[0])
        keep.add(min(group, key=lambda p: (-p[1], p[0]))[0])
    return sorted(keep)


def noisy_curve(n: int, seed: int = 0, every: int = 3) -> list[tuple[int, float]]:
    rng = random.Random(seed)
    points = [(i * every, math.exp(-i / (n / 4)) + rng.random() * 0.1) for i in range(1, n + 1)]
    points[n // 3] = (points[n // 3][0], 9.0)  # one spike: it must survive
    points[n // 2] = (points[n // 2][0], -1.0)
    return points


def log_curve(run_id: int, key: str, points: list[tuple[int, float]]) -> None:
    repo.log_metrics(run_id, [(key, step, value, step / 100, 1000.0 + step) for step, value in points])


def assert_keeps_the_extremes(sampled: list[dict], points: list[tuple[int, float]]) -> None:
    steps = [p["step"] for p in sampled]
    values = {step: value for step, value in points}
    assert steps == sorted(set(steps))
    assert steps[0] == points[0][0] and steps[-1] == points[-1][0]
    assert min(p["value"] for p in sampled) == min(values.values())
    assert max(p["value"] for p in sampled) == max(values.values())
    assert all(values[p["step"]] == p["value"] for p in sampled)  # real points only


def test_a_short_curve_comes_back_whole(home):
    run = make_run(make_dataset("d"), status="completed")
    log_curve(run["id"], "train_loss", noisy_curve(300))
    sampled = explorer.sampled_history(run["id"], "train_loss")
    assert [p["step"] for p in sampled] == [s for s, _ in noisy_curve(300)]
    assert sampled[0] == {"step": 3, "value": pytest.approx(noisy_curve(300)[0][1]), "epoch": 0.03, "time": 1003.0}


def test_down_sampling_keeps_first_last_min_and_max(home):
    run = make_run(make_dataset("d"), status="completed")
    points = noisy_curve(12_000)
    log_curve(run["id"], "train_loss", points)
    sampled = explorer.sampled_history(run["id"], "train_loss", points=1500)
    assert 1400 <= len(sampled) <= 1502
    assert_keeps_the_extremes(sampled, points)
    assert [p["step"] for p in sampled] == reference_sample(points, 750)


@pytest.mark.slow
def test_long_curves_keep_block_extremes_that_follow_the_run(home, monkeypatch):
    monkeypatch.setattr(explorer.curves, "RAW_LIMIT", 2_000)
    monkeypatch.setattr(explorer.curves, "BLOCK_POINTS", 8)
    monkeypatch.setattr(explorer.curves, "TAIL_BLOCKS", 4)
    run_id = make_run(make_dataset("d"), status="running")["id"]
    points = noisy_curve(20_000)
    log_curve(run_id, "train_loss", points[:12_000])
    sampled = explorer.sampled_history(run_id, "train_loss", points=600)
    assert_keeps_the_extremes(sampled, points[:12_000])
    with session_scope() as session:
        stored = session.scalar(select(func.count()).select_from(MetricExtreme))
        through = session.scalar(select(MetricSummary.extremes_through))
    assert 0 < stored < 12_000 / 3 and through <= points[11_999][0]

    log_curve(run_id, "train_loss", points[12_000:])  # the run goes on: new blocks are added
    sampled = explorer.sampled_history(run_id, "train_loss", points=600)
    assert_keeps_the_extremes(sampled, points)
    assert len(sampled) <= 610
    with session_scope() as session:
        assert session.scalar(select(MetricSummary.extremes_through)) > through

    # Resuming from a checkpoint rewrites the history after a step: stale extremes are never read.
    repo.delete_metrics_after(run_id, points[9_000][0])
    rewritten = points[:9_001] + [(step, 0.5) for step, _ in points[9_001:15_000]]
    log_curve(run_id, "train_loss", rewritten[9_001:])
    assert_keeps_the_extremes(explorer.sampled_history(run_id, "train_loss", points=600), rewritten)


def test_long_curves_can_be_prepared_when_a_run_ends(home, monkeypatch):
    monkeypatch.setattr(explorer.curves, "RAW_LIMIT", 2_000)
    monkeypatch.setattr(explorer.curves, "BLOCK_POINTS", 8)
    run_id = make_run(make_dataset("d"), accuracy=0.8)["id"]
    log_curve(run_id, "grad_norm", noisy_curve(5_000))
    assert explorer.prepare_long_curves(run_id) == 1  # only the long curve
    assert explorer.prepare_long_curves(run_id) == 0
    assert_keeps_the_extremes(explorer.sampled_history(run_id, "grad_norm", points=400), noisy_curve(5_000))


def test_run_history_has_every_curve(runs):
    history = explorer.run_history(runs["wide"]["id"])
    assert set(history) == {"train_loss", "val_loss", "val_accuracy", "test_accuracy"}
    assert len(history["train_loss"]) == 20


# ---------------------------------------------------------------- pages


def open_page(page: str, **query) -> AppTest:
    at = open_any_page(page, **query)
    assert_fine(at)
    return at


def assert_fine(at: AppTest) -> None:
    assert not at.exception, at.exception
    assert not [e.value for e in at.error if "Something went wrong" in e.value]


def charts(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def values(array) -> list:
    """Give back a trace's numbers as a list; Plotly sends numeric arrays packed as {dtype, bdata}."""
    if isinstance(array, dict):
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"]).tolist()
    return list(array)


def table_ids(at: AppTest) -> list[int]:
    return list(at.dataframe[0].value["Run"])


def tick(at: AppTest, rows: list[int]) -> AppTest:
    """Tick rows of the runs table, as a click on their boxes does."""
    at.session_state[at.dataframe[0].key] = {"selection": {"rows": rows, "columns": [], "cells": []}}
    return at.run()


def test_runs_page_filters_sorts_and_keeps_them_in_the_url(runs):
    at = open_page("runs")
    assert table_ids(at) == [r["id"] for r in reversed(runs.values()) if r is not runs["baseline"]] + [
        runs["baseline"]["id"]]
    at.multiselect(key="f-model").set_value(["mlp"]).run()
    assert_fine(at)
    assert set(table_ids(at)) == {runs[k]["id"] for k in ("baseline", "wide", "training")}
    at.selectbox(key="sort").set_value("best:val_accuracy").run()
    assert table_ids(at) == [runs[k]["id"] for k in ("wide", "baseline", "training")]
    assert list(at.dataframe[0].value["Best validation accuracy"]) == pytest.approx([0.9, 0.8, 0.7])
    at.text_input(key="search").set_value("wide").run()
    assert table_ids(at) == [runs["wide"]["id"]]
    assert dict(at.query_params) == {"q": "wide", "sort": "best:val_accuracy", "model": "mlp"}

    shared = open_page("runs", q="wide", sort="best:val_accuracy", model="mlp")  # the link opens the same list
    assert table_ids(shared) == [runs["wide"]["id"]]


def test_runs_page_filters_by_result(runs):
    at = open_page("runs")
    at.multiselect(key="f-metrics").set_value(["val_accuracy"]).run()
    at.slider(key="f-range-val_accuracy").set_value((0.75, 0.9)).run()
    assert_fine(at)
    assert set(table_ids(at)) == {runs["baseline"]["id"], runs["wide"]["id"]}


def test_runs_page_pages_through_many_runs(home):
    dataset = make_dataset("d")
    for i in range(55):
        repo.create_run(dataset["id"], "mlp", {}, name=f"run {i}")
    at = open_page("runs")
    assert len(table_ids(at)) == 50 and "Runs 1–50 of 55" in " ".join(c.value for c in at.caption)
    tick(at, [0])
    assert not at.button(key="open-run").disabled
    at.get("pagination")[0].set_value(2).run()
    assert_fine(at)
    assert len(table_ids(at)) == 5 and at.query_params["page"] == "2"
    assert at.button(key="open-run").disabled  # the tick stayed with its run on page 1


@pytest.mark.slow
def test_a_tick_never_moves_to_another_run(runs):
    at = tick(open_page("runs"), [0])
    assert not at.button(key="archive").disabled
    make_run(make_dataset("new"), status="queued")  # a new run arrives on top while the list is open
    dashboard_explorer.clear_caches()  # as when the list's two-second cache runs out
    at.run()
    assert table_ids(at)[0] != runs["waiting"]["id"]
    assert at.button(key="archive").disabled


@pytest.mark.slow
def test_runs_page_compares_archives_and_deletes_selected_runs(runs):
    at = open_page("runs")
    frame = at.dataframe[0].value
    rows = [int(frame.index[frame["Run"] == runs[k]["id"]][0]) for k in ("baseline", "wide")]
    tick(at, rows)
    at.button(key="archive").click().run()
    assert_fine(at)
    assert "Archived 2 run(s)." in [s.value for s in at.success]
    assert runs["wide"]["id"] not in table_ids(at)

    at.toggle(key="archived").set_value(True).run()
    assert sorted(table_ids(at)) == sorted([runs["baseline"]["id"], runs["wide"]["id"]])
    tick(at, [0])
    doomed = table_ids(at)[0]
    at.button(key="delete").click().run()
    assert_fine(at)
    assert repo.get_run(doomed) is None

    at = open_page("runs")
    picked = table_ids(tick(at, [0, 1]))[:2]
    at.button(key="compare").click().run()
    assert_fine(at)
    assert at.title[0].value == "Compare runs"
    assert at.query_params["runs"] == ",".join(map(str, picked))


@pytest.mark.slow
def test_run_page_draws_every_curve_along_steps_epochs_or_time(runs):
    run_id = runs["wide"]["id"]
    at = open_page("run", run=run_id)
    figures = charts(at)
    assert [f["layout"]["title"]["text"] for f in figures] == ["Loss (lower is better)",
                                                               "Validation accuracy (higher is better)"]
    assert [t["name"] for t in figures[0]["data"]] == ["Training loss", "Validation loss"]
    assert values(figures[0]["data"][0]["x"])[:3] == [1, 2, 3]

    at.segmented_control(key="run-x").set_value("epoch").run()
    at.slider(key="run-smooth").set_value(0.6).run()
    assert_fine(at)
    loss = charts(at)[0]
    assert values(loss["data"][0]["x"])[:2] == pytest.approx([0.1, 0.2])
    raw, smoothed = loss["data"][:2]  # the raw line, faint, behind the smooth one
    assert raw["opacity"] < 1 and raw["legendgroup"] == smoothed["legendgroup"] == "Training loss"
    assert values(raw["y"]) != values(smoothed["y"]) and values(raw["x"]) == values(smoothed["x"])
    assert dict(at.query_params) == {"run": str(run_id), "x": "epoch", "smooth": "0.6"}

    shared = open_page("run", run=run_id, x="time", smooth="0.6")
    assert shared.segmented_control(key="run-x").value == "time"
    assert charts(shared)[0]["layout"]["xaxis"]["title"]["text"] == "Minutes since the start"


def test_run_page_shows_details_history_and_exports(runs):
    at = open_page("run", run=runs["wide"]["id"])
    assert [t.label for t in at.tabs][:4] == ["Overview", "Settings", "History", "Log"]
    overview = at.tabs[0].dataframe[0].value
    assert overview.loc[overview["Metric"] == "Validation accuracy", "Best"].item() == "90.0%"
    settings = at.tabs[1].dataframe[0].value
    assert settings.loc[settings["Setting"] == "Learning rate", "Value"].item() == "0.01"
    assert "Queued" in list(at.tabs[2].dataframe[0].value["Change"])
    assert {b.label for b in at.get("download_button")} >= {"Metrics (CSV)", "Summary (JSON)"}


def test_run_page_saves_notes_and_tags(runs):
    run_id = runs["lstm"]["id"]
    at = open_page("run", run=run_id)
    at.text_area[0].set_value("Too slow on this data.")
    at.multiselect[0].set_value(["baseline", "text"])
    at.button(key="save-details").click().run()
    assert_fine(at)
    stored = repo.get_run(run_id)
    assert stored["notes"] == "Too slow on this data." and stored["tags"] == ["baseline", "text"]


def test_run_page_draws_a_long_curve_down_sampled(home, monkeypatch):
    monkeypatch.setattr(explorer.curves, "RAW_LIMIT", 2_000)
    monkeypatch.setattr(explorer.curves, "BLOCK_POINTS", 8)
    run_id = make_run(make_dataset("d"), status="completed")["id"]
    points = noisy_curve(8_000)
    log_curve(run_id, "train_loss", points)
    trace = charts(open_page("run", run=run_id))[0]["data"][0]
    xs, ys = values(trace["x"]), values(trace["y"])
    assert 1000 <= len(xs) <= 1502 and trace["type"] == "scattergl"
    assert xs[0] == points[0][0] and xs[-1] == points[-1][0]
    assert max(ys) == 9.0 and min(ys) == -1.0


def test_run_page_for_a_missing_run_offers_the_others(runs):
    at = open_page("run", run=999)
    assert "There is no run 999" in at.warning[0].value
    assert at.selectbox[0].options


def test_compare_page_from_a_shared_link(runs):
    ids_ = [runs[k]["id"] for k in ("baseline", "wide", "lstm")]
    at = open_page("compare", runs=",".join(map(str, ids_)), metric="val_accuracy")
    assert at.multiselect(key="compare-runs").value == ids_
    assert "Best by validation accuracy: Run 2 · wide net" in at.success[0].value.replace("\\", "")
    results = at.dataframe[0].value
    assert list(results["Best"]) == ["", "★", ""]
    settings = at.dataframe[1].value
    assert list(settings.index) == ["Data set", "Model", "Learning rate"]  # only what differs
    assert list(settings.columns) == ["Run 1 · baseline", "★ Run 2 · wide net", "Run 3 · lstm try"]
    curves, parallel, scatter = charts(at)
    assert [t["name"] for t in curves["data"]] == ["Run 1 · baseline", "★ Run 2 · wide net", "Run 3 · lstm try"]
    assert parallel["data"][0]["type"] == "parcoords"
    assert parallel["data"][0]["dimensions"][-1]["label"] == "Validation accuracy"
    assert [t["name"] for t in scatter["data"]] == ["Runs", "Best run"]
    assert at.selectbox(key="compare-setting").value == "training.learning_rate"

    at.toggle(key="compare-all-settings").set_value(True).run()
    assert "Epochs" in at.dataframe[1].value.index
    at.selectbox(key="compare-metric").set_value("val_loss").run()
    assert_fine(at)
    assert at.query_params["metric"] == "val_loss"
    assert at.selectbox(key="compare-curve").value == "val_loss"  # the curve follows the result judged by
    assert "Run 2 · wide net" in at.success[0].value.replace("\\", "")


@pytest.mark.slow
def test_compare_page_keeps_working_when_the_runs_change(runs):
    at = open_page("compare", runs=f"{runs['baseline']['id']},{runs['wide']['id']}", metric="test_accuracy")
    at.multiselect(key="compare-runs").set_value([runs["baseline"]["id"], runs["waiting"]["id"],
                                                  runs["training"]["id"]]).run()
    assert_fine(at)
    assert at.selectbox(key="compare-metric").value == "test_accuracy"
    at.multiselect(key="compare-runs").set_value([runs["waiting"]["id"], runs["training"]["id"]]).run()
    assert_fine(at)  # the waiting run has no results: the training run's are still compared
    assert "Run 4 · training now" in at.success[0].value.replace("\\", "")


def test_compare_page_needs_two_runs(runs):
    at = open_page("compare", runs=str(runs["wide"]["id"]))
    assert "Choose two runs or more" in at.info[0].value


def test_a_constant_curve_sits_mid_chart_on_its_own_scale():
    from dashboard.components.figures import smoothed_curves_figure

    points = [{"step": s, "epoch": s / 10, "value": 0.001, "time": float(s)} for s in range(1, 30)]
    figure = smoothed_curves_figure({"Learning rate": points}, "Learning rate")
    assert figure.layout.yaxis.range == pytest.approx((0.0005, 0.0015))
    moving = [dict(p, value=p["value"] * p["step"]) for p in points]
    assert smoothed_curves_figure({"Learning rate": moving}, "Learning rate").layout.yaxis.range is None


# ---------------------------------------------------------------- figures that agree (issue 22)


@pytest.mark.slow
def test_tied_runs_are_named_as_ties_in_the_document_the_cli_and_the_compare_page(home):
    from tests.conftest import cli

    dataset = make_dataset("digits")
    first, second, third = (make_run(dataset, accuracy=a) for a in (0.9808, 0.9808, 0.95))
    chosen = [first["id"], second["id"], third["id"]]
    document = explorer.compare_document(chosen, "val_accuracy")
    assert document["best_run"] is None and document["tied"] == [first["id"], second["id"]]
    assert document["best_value"] == pytest.approx(0.9808)
    assert explorer.compare_document([first["id"], third["id"]], "val_accuracy")["tied"] == []

    done = cli("runs", "compare", *map(str, chosen), "--metric", "val_accuracy", "--json")
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert shown["best_run"] is None and shown["tied"] == [first["id"], second["id"]]
    done = cli("runs", "compare", *map(str, chosen), "--metric", "val_accuracy")
    assert f"Runs {first['id']} and {second['id']} are tied on val_accuracy at 0.9808" in done.stdout
    assert "Best by" not in done.stdout

    at = open_page("compare", runs=",".join(map(str, chosen)), metric="val_accuracy")
    assert not at.success  # no run is declared best
    message = at.info[0].value.replace("\\", "")
    assert f"Runs {first['id']} and {second['id']} are tied at 98.08%" in message
    assert list(at.dataframe[0].value["Best"]) == ["tied", "tied", ""]


def test_accuracy_axes_stay_within_0_and_100_percent(home):
    from dashboard.components.eval_figures import folds_figure
    from dashboard.components.figures import curves_figure, settings_scatter_figure, smoothed_curves_figure

    perfect = [{"step": s, "epoch": s, "value": 1.0, "time": float(s)} for s in range(1, 6)]
    rising = [dict(p, value=0.5 + p["step"] / 10) for p in perfect]
    for figure in (smoothed_curves_figure({"Validation accuracy": perfect}, "Accuracy", percent=True),
                   smoothed_curves_figure({"a": perfect, "b": rising}, "Accuracy", percent=True),
                   curves_figure({"val_accuracy": perfect}, "Accuracy", percent=True),
                   settings_scatter_figure([{"label": "Run 1", "x": 0.1, "y": 1.0, "best": True}], "Rate", "Accuracy",
                                           percent=True),
                   folds_figure([{"fold": 1, "accuracy": 1.0}, {"fold": 2, "accuracy": 0.98}], "accuracy", 0.99,
                                percent=True)):
        low, high = figure.layout.yaxis.range
        assert 0.0 <= low < high <= 1.0 and figure.layout.yaxis.tickformat.endswith("%")

    # On a real run page: a run whose validation accuracy is 100 % all along.
    run = make_run(make_dataset("digits"), accuracy=1.0)
    repo.log_metrics(run["id"], [("val_accuracy", s, 1.0, s / 10, 100.0 + s) for s in range(1, 21)])
    at = open_page("run", run=run["id"])
    accuracy_charts = [c for c in charts(at) if "ccuracy" in json.dumps(c.get("layout", {}).get("title", ""))]
    assert accuracy_charts
    for chart in accuracy_charts:
        low, high = chart["layout"]["yaxis"]["range"]
        assert 0.0 <= low < high <= 1.0


def test_runs_page_names_the_metric_of_each_result_and_sorts_only_by_results(home):
    classifier = make_run(make_dataset("digits"), name="digits", accuracy=1.0)
    ratings = repo.create_run(make_dataset("ratings")["id"], "mf", {"training": {"epochs": 2}}, name="ratings")
    repo.log_metrics(ratings["id"], [("val_loss", 1, 0.7147, 1.0, 100.0), ("val_rmse", 1, 0.8945, 1.0, 100.0),
                                     ("learning_rate", 1, 0.001, 1.0, 100.0),
                                     ("system/cpu_percent", 1, 93.0, 1.0, 100.0)])
    repo.log_metrics(classifier["id"], [("learning_rate", 1, 0.01, 1.0, 100.0)])
    at = open_page("runs")
    frame = at.dataframe[0].value
    shown = dict(zip(frame["Run"], frame["Best on validation"]))
    assert shown == {classifier["id"]: "accuracy 100.0%", ratings["id"]: "error (RMSE) 0.8945"}
    options = at.selectbox(key="sort").options
    assert not [o for o in options if "learning rate" in o.lower() or "cpu" in o.lower()]
    assert any("validation accuracy" in o.lower() for o in options) and any("training loss" in o.lower() for o in options)
    assert explorer.is_result("test_f1_macro") and not explorer.is_result("system/memory_mb")


@pytest.mark.slow
def test_a_run_that_overfitted_says_so_on_the_run_and_evaluate_pages(home):
    ratings = make_dataset("ratings")
    overfitted = ratings_run(ratings, [0.95, 0.8945, 0.92, 0.974])
    lost = explorer.overfitting(overfitted)
    assert lost == {"key": "val_rmse", "higher_is_better": False, "best": pytest.approx(0.8945), "best_epoch": 2,
                    "last": pytest.approx(0.974), "last_epoch": 4}
    assert explorer.overfitting(ratings_run(ratings, [0.95, 0.8945, 0.92, 0.974], keep_best=True)) is None
    assert explorer.overfitting(ratings_run(ratings, [0.95, 0.8945, 0.90])) is None  # within 2 %: noise
    assert explorer.overfitting(ratings_run(ratings, [0.95, 0.92, 0.8945])) is None  # best at the end

    sentence = ("The validation error was lowest at epoch 2 (0.8945) and ended at 0.974: the model over-fitted "
                "after epoch 2.")
    for page in ("run", "evaluate"):
        at = open_page(page, run=overfitted["id"])
        assert any(sentence in w.value and "Keep the best epoch" in w.value for w in at.warning), page
    assert "use the Balanced or Best preset" in page_texts(at)

    # A run that started from Balanced is not told to use Balanced: it is told why Balanced did not keep the epoch.
    balanced = ratings_run(ratings, [0.95, 0.8945, 0.92, 0.974], preset="Balanced")
    warned = page_texts(open_page("run", run=balanced["id"]))
    assert "The Balanced preset this run started from keeps it only when there are enough validation" in warned
    assert "use the Balanced or Best preset" not in warned

    at = open_page("run", run=overfitted["id"])
    at.button(key="run-keep-best").click().run()
    assert_fine(at)
    again = max(explorer.find_runs().runs, key=lambda r: r["id"])
    config = repo.get_run(again["id"])["config"]
    assert again["id"] > overfitted["id"] and again["status"] == "queued"
    assert config["training"]["keep_best"] is True and config["training"]["early_stopping_metric"] == "val_score"
    assert config["training"]["epochs"] == 4 and config["model"] == overfitted["config"]["model"]
    # TRAINYARD_AUTO_WORKER=0 (as on a machine that only serves the dashboard): queuing starts no worker here, and
    # the waiting run says how to start one
    from engine.jobs.worker import STALE_SECONDS

    assert not repo.alive_workers(STALE_SECONDS)
    waiting = page_texts(open_page("run", run=again["id"]))
    assert "no worker is running" in waiting and "The dashboard starts one" not in waiting


@pytest.mark.slow
def test_a_training_run_draws_its_loss_first_and_the_computer_below(home):
    """The first training step's loss is on the run page before the computer's figures (which come sooner), those
    are folded below it, and the overview shows the device and tries as the run goes."""
    run = make_run(make_dataset("shop"), status="running")
    repo.log_metrics(run["id"], [("system/cpu_percent", s, 50.0 + s, None, 100.0 + s) for s in range(5)]
                     + [("system/memory_mb", s, 300.0 + s, None, 100.0 + s) for s in range(5)])
    at = open_page("run", run=run["id"])
    assert any("loss appears here" in c.value for c in at.caption)
    folded = next(e for e in at.expander if e.label.startswith("The computer while training"))
    assert len(folded.get("plotly_chart")) == len(charts(at)) == 2  # only in the folded section
    assert [c["layout"]["title"]["text"] for c in charts(at)] == ["Processor use (% of one core)",
                                                                  "Memory used by the run (MB)"]

    repo.log_metrics(run["id"], [("train_loss", 1, 0.9, 0.01, 106.0)])
    repo.set_run_environment(run["id"], "cpu", {})
    at = open_page("run", run=run["id"])
    titles = [chart["layout"]["title"]["text"] for chart in charts(at)]
    assert titles[0].startswith("Training loss") or titles[0].startswith("Loss"), titles
    assert not any("cpu" in t.lower() or "memory" in t.lower() for t in titles[:1])
    folded = next(e for e in at.expander if e.label.startswith("The computer while training"))
    assert len(folded.get("plotly_chart")) == 2
    overview = [t.value for t in at.text]
    assert "cpu" in overview  # the device, read again while the run trains

    # a pretrained model's run says why its loss comes later: its network first reads every example once
    reading = make_run(make_dataset("reviews", kind="text"), model="minilm", status="running")
    at = open_page("run", run=reading["id"])
    assert any("first reads every example once" in c.value for c in at.caption), [c.value for c in at.caption]
