"""Trainyard's command line: `python -m engine COMMAND`. With --json a command prints one JSON document."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from engine.errors import UserError

SUMMARY_KEYS = ("test_accuracy", "test_f1_macro", "test_precision_macro", "test_recall_macro", "test_rmse",
                "test_mae", "test_r2", "val_loss", "val_accuracy", "train_loss", "epochs_completed",
                "samples_per_second")


def _plain(value: Any) -> Any:
    """Give back value as strict JSON's types: times as text, NaN and infinities as null (JSON has neither)."""
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds") + "Z"
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if type(value).__module__ == "numpy" and hasattr(value, "tolist"):
        return _plain(value.tolist())  # a numpy number or array as plain Python ones
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def emit(args, document: Any, text: str) -> None:
    if getattr(args, "json", False):
        print(json.dumps(_plain(document), indent=2, default=str, allow_nan=False))
    else:
        print(text)


def _table(rows: list[list[Any]], header: list[str]) -> str:
    cells = [header] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells)


def _ready() -> None:
    from db.session import ensure_ready

    ensure_ready()


# ------------------------------------------------------------------ commands


def _shown_url(url: str) -> str:
    """Give back a database address fit to print: its password, if any, replaced by ***."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not an address SQLAlchemy reads: print none of it
        return "unreadable"


def cmd_init(args) -> None:
    from db.session import database_url, migrate, trainyard_home
    from engine.data.ingest import remove_leftovers

    revision = migrate()
    remove_leftovers()
    emit(args, {"database": _shown_url(database_url()), "home": str(trainyard_home()), "revision": revision},
         f"Database ready at revision {revision}; files live in {trainyard_home()}.")


def dataset_document(dataset: dict[str, Any]) -> dict[str, Any]:
    keys = ("id", "name", "kind", "task", "target", "n_rows", "n_columns", "n_classes", "source_name",
            "sha256", "parent_id", "created_at")
    return {k: dataset[k] for k in keys}


def _image_size(raw: str | None) -> tuple[int, int] | None:
    """Give back (height, width) from 'WIDTHxHEIGHT' or one number for a square."""
    if not raw:
        return None
    try:
        width, _, height = raw.lower().partition("x")
        return int(height or width), int(width)
    except ValueError:
        raise UserError(f"'--image-size {raw}' needs the form WIDTHxHEIGHT, for example 32x32, or one number.") from None


def cmd_models(args) -> None:
    from engine.models.registry import DEFAULT_MODEL, MODELS
    from engine.presets import PRETRAINED_MAX_PER_CLASS, PRETRAINED_MAX_TEXTS

    entries = [entry for entry in MODELS.values() if not args.kind or args.kind in entry.kinds]
    document = [{"name": entry.name, "title": entry.title, "kinds": list(entry.kinds), "pretrained": entry.pretrained,
                 "available": entry.available, "default_for": [k for k, n in DEFAULT_MODEL.items() if n == entry.name],
                 "install": None if entry.available else entry.install_command, "description": entry.description}
                for entry in entries]
    rows = [[m["name"], m["title"], ", ".join(m["kinds"]), "yes" if m["pretrained"] else "no",
             "yes" if m["available"] else f"no: {m['install']}", ", ".join(m["default_for"])] for m in document]
    emit(args, document, _table(rows, ["NAME", "TITLE", "KINDS", "PRETRAINED", "AVAILABLE", "DEFAULT FOR"]) +
         f"\nPicture sets with up to {PRETRAINED_MAX_PER_CLASS} training pictures per class start from the pretrained "
         f"picture model, and text sets of up to {PRETRAINED_MAX_TEXTS:,} texts from the pretrained text model, "
         "when they are available.")


def cmd_datasets_add(args) -> None:
    from engine.data.ingest import add_dataset

    _ready()
    path = Path(args.path)
    if not path.exists():
        raise UserError(f"There is no file at '{path}'.")
    roles = {role: getattr(args, f"{role}_column") for role in ("user", "item", "timestamp")
             if getattr(args, f"{role}_column") is not None} or None
    dataset = add_dataset(path, name=args.name, kind=args.kind, target=args.target, task=args.task,
                          text_column=args.text_column, roles=roles, image_size=_image_size(args.image_size))
    report = dataset["quality_report"]
    emit(args, dataset_document(dataset) | {"detected": report.get("detected", {})},
         f"Added data set {dataset['id']} '{dataset['name']}' ({dataset['kind']}): {dataset['n_rows']} rows, "
         f"predicting '{dataset['target']}' ({dataset['task']}); {len(report.get('problems', []))} problems found.")


def cmd_datasets_clean(args) -> None:
    from engine.data.cleaning import clean_dataset

    dataset = _get_dataset(args.dataset)
    step = {"step": args.step}
    for key in ("column", "method", "value", "min_count", "height", "width", "target", "task"):
        if getattr(args, key) is not None:
            step[key] = getattr(args, key)
    cleaned = clean_dataset(dataset, step, name=args.name)
    changed = cleaned["quality_report"]["cleaning"]["changed"]
    emit(args, dataset_document(cleaned) | {"changed": changed, "before": cleaned["quality_report"]["before"]},
         f"Made data set {cleaned['id']} '{cleaned['name']}' from '{dataset['name']}': {changed}.")


def cmd_datasets_sample(args) -> None:
    from engine.data.samples import SAMPLES, add_sample

    _ready()
    if args.sample is None:
        emit(args, [{"key": k, "kind": s.kind, "title": s.title, "description": s.description}
                    for k, s in SAMPLES.items()],
             _table([[k, s.kind, s.title] for k, s in SAMPLES.items()], ["SAMPLE", "KIND", "TITLE"]))
        return
    if args.sample not in SAMPLES:
        raise UserError(f"There is no sample '{args.sample}'. Choose one of: {', '.join(SAMPLES)}.")
    dataset = add_sample(args.sample)
    emit(args, dataset_document(dataset), f"Added the sample {dataset['id']} '{dataset['name']}' ({dataset['kind']}).")


def cmd_datasets_list(args) -> None:
    from db import repo

    _ready()
    datasets = repo.list_datasets()
    emit(args, [dataset_document(d) for d in datasets],
         _table([[d["id"], d["name"], d["kind"], d["task"], d["target"], d["n_rows"]] for d in datasets],
                ["ID", "NAME", "KIND", "TASK", "TARGET", "ROWS"]) if datasets else "No data sets yet.")


def cmd_datasets_show(args) -> None:
    dataset = _get_dataset(args.dataset)
    document = dataset_document(dataset) | {"schema": dataset["schema"], "quality_report": dataset["quality_report"]}
    problems = dataset["quality_report"].get("problems", [])
    text = json.dumps(_plain(dataset_document(dataset)), indent=2) + "\n" + (
        "\n".join(f"- {p['title']}: {p['effect']} Fix: {p['fix']}" for p in problems) or "No problems found.")
    emit(args, document, text)


def cmd_datasets_delete(args) -> None:
    from db import explorer

    dataset = _get_dataset(args.dataset)
    dependents = explorer.dataset_dependents(dataset["id"])
    if dependents.active:
        raise UserError(f"Runs {', '.join(map(str, dependents.active))} are waiting or training on "
                        f"'{dataset['name']}'. Cancel them (`python -m engine runs cancel ID`) or let them finish "
                        "first.")
    if not args.yes:
        raise UserError(f"Deleting '{dataset['name']}' removes it and its files for good. "
                        f"{dependents.sentence()} Add --yes to go on.")
    try:
        explorer.delete_dataset(dataset["id"])
    except ValueError as error:
        raise UserError(str(error)) from None
    emit(args, {"deleted": dataset["id"], "runs": dependents.runs, "sweeps": dependents.sweeps,
                "versions_kept": dependents.versions},
         f"Deleted the data set '{dataset['name']}'. {dependents.sentence(done=True)}")


def _parse_value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def build_config(dataset: dict[str, Any], args) -> dict[str, Any]:
    from engine.config import set_dotted, validate_run_config
    from engine.models.registry import MODELS, models_for_kind
    from engine.presets import starting_config, suggested_model

    changes: dict[str, Any] = {}
    for flag, key in (("epochs", "training.epochs"), ("batch_size", "training.batch_size"),
                      ("lr", "training.learning_rate"), ("optimizer", "training.optimizer")):
        if getattr(args, flag) is not None:
            set_dotted(changes, key, getattr(args, flag))
    for item in args.set or []:
        if "=" not in item:
            raise UserError(f"'--set {item}' needs the form KEY=VALUE, for example --set model.dropout=0.2.")
        key, value = item.split("=", 1)
        set_dotted(changes, key.strip(), _parse_value(value.strip()))
    if "name" in changes.get("model", {}):
        raise UserError("Choose the model with --model NAME, not --set model.name.")
    from engine.training.warm_start import source_run

    start_from = changes.get("training", {}).get("init_from")
    # A run that starts from an earlier one trains that run's model unless --model says otherwise.
    earlier = source_run(start_from) if isinstance(start_from, int) else None
    model = args.model or (earlier["model"] if earlier else suggested_model(dataset))
    if model not in MODELS:
        raise UserError(f"Unknown model '{model}'. Choose one of: {', '.join(MODELS)}.")
    if dataset["kind"] not in MODELS[model].kinds:
        fitting = ", ".join(entry.name for entry in models_for_kind(dataset["kind"]))
        raise UserError(f"The model '{model}' does not fit {dataset['kind']} data. Choose one of: {fitting}.")
    raw = starting_config(dataset, model, getattr(args, "preset", None), changes)
    config = validate_run_config(raw)
    if config.training.init_from:
        source_run(config.training.init_from, model)
    from engine.jobs.launch import check_launch

    check_launch(config)
    return config.model_dump()


def run_document(run: dict[str, Any]) -> dict[str, Any]:
    from db import repo

    summary = repo.run_summary(run["id"])
    keys = ("id", "name", "status", "dataset", "dataset_id", "model", "config", "error", "progress",
            "eta_seconds", "device", "worker_host", "pid", "created_at", "started_at", "finished_at",
            "parent_run_id", "tags", "notes", "environment")
    document = {k: run.get(k) for k in keys}
    document["summary"] = {k: summary[k] for k in SUMMARY_KEYS if k in summary} | {
        k: v for k, v in summary.items() if k not in SUMMARY_KEYS}
    return document


def _wait_for(run_id: int) -> dict[str, Any]:
    from db import repo
    from engine.jobs.worker import STALE_SECONDS, start_background_worker

    started = None
    if not repo.alive_workers(STALE_SECONDS):
        started = start_background_worker()
    try:
        while True:
            run = repo.get_run(run_id)
            if run["status"] in repo.FINISHED:
                return run
            time.sleep(0.5)
    finally:
        if started is not None:
            started.terminate()
            started.wait(timeout=30)


def cmd_train(args) -> None:
    from db import repo

    dataset = _get_dataset(args.dataset)
    if str(args.preset).strip().lower() == "auto":
        from engine.search.commands import train_auto

        if args.estimate:
            raise UserError("Auto searches for as long as its --budget allows: that is its time. --estimate is for "
                            "one run of a preset (quick, balanced or best).")

        return train_auto(args, dataset)
    if args.budget is not None:
        raise UserError("A time budget is for Auto only: add --preset auto, or leave out --budget.")
    config = build_config(dataset, args)
    if args.estimate:
        return _print_estimate(args, dataset, config)
    by_hand = config["training"]["launcher"] == "torchrun"
    if by_hand and args.wait:
        raise UserError("--wait waits for Trainyard's workers, and they leave a run with training.launcher=torchrun "
                        "to your cluster's scheduler. Leave out --wait.")
    run = repo.create_run(dataset["id"], config["model"]["name"], config, name=args.name)
    if args.wait:
        run = _wait_for(run["id"])
    run = repo.get_run(run["id"])
    document = run_document(run)
    text = f"Run {run['id']} {run['status']}."
    if run["status"] == "failed":
        text += f" {run['error']}"
    elif document["summary"]:
        text += " " + ", ".join(f"{k}={v:.4g}" for k, v in document["summary"].items() if k in SUMMARY_KEYS)
    if by_hand:
        from engine.jobs.launch import torchrun_command

        document["torchrun"] = torchrun_command(run)
        text += (" Trainyard's workers leave it to your cluster's scheduler: start it"
                 + (f" on each of its {config['training']['machines']} machines" if config["training"]["machines"] > 1
                    else "") + f" with\n  {document['torchrun']}")
    emit(args, document, text)
    if args.wait and run["status"] != "completed":
        raise SystemExit(1)


def _print_estimate(args, dataset: dict[str, Any], config: dict[str, Any]) -> None:
    """Print how long a run of config should take and the memory it needs; queue nothing."""
    from engine.estimates import estimate_run
    from engine.models.estimate import human_bytes

    estimate = estimate_run(config, dataset)
    text = (f"A {config['model']['name']} run on '{dataset['name']}' ({config.get('preset') or 'own settings'}): "
            f"{estimate.parameters:,} parameters, about {human_bytes(estimate.memory.total)} of memory, "
            f"training time {estimate.words}.\n{estimate.basis}\nNothing was queued.")
    emit(args, {"dataset": dataset["name"], "model": config["model"]["name"], "preset": config.get("preset"),
                **estimate.document()}, text)


def cmd_runs_list(args) -> None:
    from db import explorer

    _ready()
    if args.limit < 1:
        raise UserError(f"'--limit {args.limit}' lists no runs: give a number of runs of 1 or more, for example "
                        "--limit 20.")
    if args.sort not in ("newest", "oldest", "name") and not args.sort.startswith("best:"):
        raise UserError(f"'--sort {args.sort}' is not an order: use newest, oldest, name or best:METRIC, "
                        "for example best:val_accuracy.")
    filters = explorer.RunFilters(search=args.search or "", models=tuple(args.model or ()),
                                  statuses=tuple(args.status or ()), tags=tuple(args.tag or ()),
                                  archived=args.archived)
    runs = explorer.find_runs(filters, sort=args.sort, per_page=args.limit).runs
    documents = [
        {k: r[k] for k in ("id", "name", "status", "dataset", "model", "progress", "created_at", "finished_at")}
        | {"summary": {k: m["last"] for k, m in r.get("metrics", {}).items()}}
        for r in runs
    ]

    def best(run):
        metrics = run.get("metrics", {})
        for key in ("test_accuracy", "test_rmse", "val_accuracy", "val_loss"):
            if key in metrics:
                return f"{key}={metrics[key]['last']:.4g}"
        return ""

    emit(args, documents, _table(
        [[r["id"], r["status"], r["dataset"], r["model"], f"{r['progress']:.0%}", best(r)] for r in runs],
        ["ID", "STATUS", "DATA SET", "MODEL", "PROGRESS", "RESULT"]) if runs else "No runs yet.")


def _get_dataset(name_or_id: str) -> dict[str, Any]:
    """Give back the data set with this id or, when no id matches, this name; a number is read as an id first."""
    from db import repo

    _ready()
    dataset = repo.get_dataset(name_or_id)
    if dataset is None:
        raise UserError(f"There is no data set '{name_or_id}'. `python -m engine datasets list` shows them.")
    if str(name_or_id).isdigit() and dataset["name"] != str(name_or_id):
        named = [d["id"] for d in repo.list_datasets() if d["name"] == str(name_or_id)]
        if named:
            print(f"Note: '{name_or_id}' is read as the id of data set {dataset['id']} ('{dataset['name']}'). The data "
                  f"set named '{name_or_id}' has the id {named[0]}: use {named[0]} to choose it.", file=sys.stderr)
    return dataset


def _get_run(run_id: int) -> dict[str, Any]:
    from db import repo

    _ready()
    run = repo.get_run(run_id)
    if run is None:
        raise UserError(f"There is no run {run_id}. `python -m engine runs list` shows them.")
    return run


def cmd_runs_show(args) -> None:
    run = _get_run(args.run_id)
    document = run_document(run)
    emit(args, document, json.dumps(_plain(document), indent=2, default=str))


def cmd_runs_metrics(args) -> None:
    from db import explorer, repo

    _get_run(args.run_id)
    if args.csv:
        sys.stdout.write(explorer.metrics_csv(args.run_id, args.key))
        return
    if args.points:  # down-sampled as the charts draw it: each bucket's lowest and highest point
        history = explorer.run_history(args.run_id, [args.key] if args.key else None, args.points)
        points = [{"key": key, **point} for key, curve in history.items() for point in curve]
    else:
        points = repo.metric_history(args.run_id, args.key)
    emit(args, points, _table([[p["key"], p["step"], p["epoch"], f"{p['value']:.6g}"] for p in points],
                              ["KEY", "STEP", "EPOCH", "VALUE"]) if points else "No metrics recorded yet.")


def cmd_runs_compare(args) -> None:
    from db import explorer

    for run_id in args.run_ids:
        _get_run(run_id)
    document = explorer.compare_document(args.run_ids, args.metric)
    logged = list(dict.fromkeys(k for r in document["runs"] for k in r["best"]))
    if document["metric"] is None or not logged:
        raise UserError("None of these runs has logged a result yet.")
    if args.metric and document["best_value"] is None:
        raise UserError(f"None of these runs has a result called '{args.metric}'. Choose one of: "
                        f"{', '.join(logged)}.")
    keys = logged[:6]
    if document["tied"]:
        verdict = (f"Runs {explorer.and_list(document['tied'])} are tied on {document['metric']} at "
                   f"{document['best_value']:.4g}: none is better")
    else:
        verdict = f"Best by {document['metric']}: run {document['best_run']}"
    leaders = set(document["tied"]) | {document["best_run"]}
    rows = [[("*" if r["id"] in leaders else "") + str(r["id"]), r["name"] or "", r["model"]]
            + [f"{r['best'][k]:.4g}" if k in r["best"] else "" for k in keys] for r in document["runs"]]
    differ = "\n".join(f"  {k}: " + ", ".join(f"run {i}={v}" for i, v in values.items())
                       for k, values in document["settings_that_differ"].items()) or "  none"
    emit(args, document, _table(rows, ["RUN", "NAME", "MODEL"] + [k.upper() for k in keys])
         + f"\n\n{verdict}. Settings that differ:\n{differ}")


def cmd_runs_archive(args) -> None:
    from db import explorer

    for run_id in args.run_ids:
        _get_run(run_id)
    changed = explorer.archive_runs(args.run_ids, archived=not args.restore)
    left = sorted(set(args.run_ids) - set(changed))
    text = f"{'Restored' if args.restore else 'Archived'} {len(changed)} run(s)."
    if left and not args.restore:
        text += f" Left as they are (waiting, training or already archived): {', '.join(map(str, left))}."
    emit(args, {"changed": changed, "unchanged": left}, text)


def cmd_runs_delete(args) -> None:
    from db import explorer

    for run_id in args.run_ids:
        _get_run(run_id)
    if not args.yes:
        raise UserError("Deleting removes the runs, their curves and their files for good. Add --yes to go on, "
                        "or use `python -m engine runs archive` to only hide them.")
    outcome = explorer.delete_runs(args.run_ids)
    text = f"Deleted {len(outcome.deleted)} run(s) and their files."
    if outcome.training:
        text += f" Still training, so left alone (cancel them first): {', '.join(map(str, outcome.training))}."
    emit(args, {"deleted": outcome.deleted, "training": outcome.training}, text)
    if outcome.training:
        raise SystemExit(1)


def cmd_runs_cancel(args) -> None:
    from db import repo

    _get_run(args.run_id)
    outcome = repo.request_cancel(args.run_id)
    text = {"cancelled": f"Run {args.run_id} cancelled.",
            "requested": f"Run {args.run_id} is stopping; its worker ends it within seconds."}.get(
        outcome, f"Run {args.run_id} had already ended ({outcome}).")
    emit(args, {"id": args.run_id, "outcome": outcome}, text)


def cmd_worker(args) -> None:
    from engine.jobs.worker import Worker

    _ready()
    if args.ensure:
        from engine.jobs.worker import ensure_worker

        started = ensure_worker()
        emit(args, {"started": started}, "Started a background worker." if started else "A worker is already running.")
        return
    Worker(slots=args.slots, once=args.once, auto_resume=not args.no_resume).run()


def cmd_calibrate(args) -> None:
    from engine.calibrate import measure

    def progress(done: int, total: int) -> None:
        if args.progress:
            print(f"progress {done} {total}", flush=True)

    found = measure(args.device, progress)
    emit(args, found, f"On {found['device']}: about {found['seconds_per_step'] * 1000:.2f} ms per training step, "
                      f"plus {found['seconds_per_unit'] * 1e9:.2f} ns per unit of work. "
                      "Saved for run-time estimates.")


# ------------------------------------------------------------------ parser


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m engine", description="Trainyard: train models from the command line.")
    commands = root.add_subparsers(dest="command", required=True)

    def command(subparsers, name, handler, help_text):
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(handler=handler)
        sub.add_argument("--json", action="store_true", help="print one JSON document and nothing else")
        return sub

    command(commands, "init", cmd_init, "create or update the database")
    models = command(commands, "models", cmd_models, "list the models, pretrained or not, and each kind's default")
    models.add_argument("--kind", choices=["tabular", "image", "text", "ratings"], help="only the models for this kind")

    datasets = commands.add_parser("datasets", help="add and inspect data sets").add_subparsers(dest="sub", required=True)
    add = command(datasets, "add", cmd_datasets_add, "add a data set from a file")
    add.add_argument("path")
    add.add_argument("--name")
    add.add_argument("--kind", default="auto", choices=["auto", "tabular", "image", "text", "ratings"])
    add.add_argument("--target", help="the column to predict: the label of texts, the rating of ratings "
                                      "(detected when left out)")
    add.add_argument("--task", choices=["classification", "regression"], help="detected when left out")
    add.add_argument("--text-column", dest="text_column", help="texts: the column with the texts")
    add.add_argument("--user-column", dest="user_column", help="ratings: the column naming the user")
    add.add_argument("--item-column", dest="item_column", help="ratings: the column naming the item")
    add.add_argument("--timestamp-column", dest="timestamp_column", help="ratings: the time of each rating")
    add.add_argument("--image-size", dest="image_size", metavar="WxH", help="images: resize to this, e.g. 32x32")
    clean = command(datasets, "clean", cmd_datasets_clean,
                    "fix a problem; the result is a new version linked to the data set, which is kept")
    clean.add_argument("dataset", metavar="NAME_OR_ID")
    clean.add_argument("step", choices=["drop_duplicates", "drop_missing", "fill_missing", "merge_labels",
                                        "drop_rare_classes", "drop_column", "clip_outliers", "drop_empty_texts",
                                        "keep_last_rating", "drop_rare_users", "drop_unreadable", "resize",
                                        "set_target"])
    clean.add_argument("--column")
    clean.add_argument("--method", choices=["median", "mode", "constant"], help="fill_missing: how to fill")
    clean.add_argument("--value", help="fill_missing --method constant: the value")
    clean.add_argument("--min-count", dest="min_count", type=int, help="drop_rare_classes, drop_rare_users")
    clean.add_argument("--height", type=int, help="resize: pixels")
    clean.add_argument("--width", type=int, help="resize: pixels")
    clean.add_argument("--target", help="set_target: the new column to predict")
    clean.add_argument("--task", choices=["classification", "regression"], help="set_target: the new task")
    clean.add_argument("--name", help="the new version's name (default: the source's name and the fix)")
    sample = command(datasets, "sample", cmd_datasets_sample, "list the samples, or add one")
    sample.add_argument("sample", nargs="?", metavar="SAMPLE")
    command(datasets, "list", cmd_datasets_list, "list data sets")
    show = command(datasets, "show", cmd_datasets_show, "show a data set and its quality report")
    show.add_argument("dataset", metavar="NAME_OR_ID")
    delete = command(datasets, "delete", cmd_datasets_delete,
                     "delete a data set, its files and the runs trained on it (what goes is said first)")
    delete.add_argument("dataset", metavar="NAME_OR_ID")
    delete.add_argument("--yes", action="store_true", help="delete without asking again")

    train = command(commands, "train", cmd_train, "queue a training run")
    train.add_argument("--dataset", required=True, metavar="NAME_OR_ID")
    train.add_argument("--model")
    train.add_argument("--name")
    train.add_argument("--epochs", type=int)
    train.add_argument("--batch-size", type=int, dest="batch_size")
    train.add_argument("--lr", type=float)
    train.add_argument("--optimizer")
    train.add_argument("--preset", default="balanced", metavar="quick|balanced|best|auto",
                       help="the settings to start from, fitted to the data set (default balanced); "
                            "the other options change settings on top of it. auto searches models and settings "
                            "within --budget (a sweep)")
    train.add_argument("--budget", metavar="TIME", help="auto: how long to search, e.g. 10m, 90s or 1h")
    train.add_argument("--set", action="append", metavar="KEY=VALUE", help="any setting, e.g. model.dropout=0.2")
    train.add_argument("--wait", action="store_true", help="wait until the run ends")
    train.add_argument("--estimate", action="store_true",
                       help="print how long the run should take and the memory it needs, and queue nothing")

    runs = commands.add_parser("runs", help="inspect runs").add_subparsers(dest="sub", required=True)
    runs_list = command(runs, "list", cmd_runs_list, "list runs, newest first (archived ones left out)")
    runs_list.add_argument("--limit", type=int, default=100)
    runs_list.add_argument("--search", help="part of a run's name or number, a model or a data set")
    runs_list.add_argument("--model", action="append", help="only this model (repeat for several)")
    runs_list.add_argument("--status", action="append", help="only this status (repeat for several)")
    runs_list.add_argument("--tag", action="append", help="only runs with this tag (repeat for several)")
    runs_list.add_argument("--sort", default="newest", help="newest, oldest, name or best:METRIC")
    runs_list.add_argument("--archived", action="store_true", help="list the archived runs instead")
    for name, handler, help_text in (("show", cmd_runs_show, "show one run with its final metrics"),
                                     ("metrics", cmd_runs_metrics, "print a run's full metric history"),
                                     ("cancel", cmd_runs_cancel, "cancel a queued or running run")):
        sub = command(runs, name, handler, help_text)
        sub.add_argument("run_id", type=int, metavar="RUN_ID")
        if name == "metrics":
            sub.add_argument("--key")
            sub.add_argument("--points", type=int, help="down-sample each curve to about this many points, "
                                                        "keeping the first, last, lowest and highest")
            sub.add_argument("--csv", action="store_true", help="print every point as CSV")
    compare = command(runs, "compare", cmd_runs_compare, "compare runs: results, the best run, settings that differ")
    compare.add_argument("run_ids", type=int, nargs="+", metavar="RUN_ID")
    compare.add_argument("--metric", help="the result that decides the best run (default: the first they all have)")
    archive = command(runs, "archive", cmd_runs_archive, "hide runs from the list, keeping everything")
    archive.add_argument("run_ids", type=int, nargs="+", metavar="RUN_ID")
    archive.add_argument("--restore", action="store_true", help="bring archived runs back")
    remove = command(runs, "delete", cmd_runs_delete, "delete runs with their curves and files")
    remove.add_argument("run_ids", type=int, nargs="+", metavar="RUN_ID")
    remove.add_argument("--yes", action="store_true", help="confirm: this cannot be undone")

    from engine.serving.commands import register as register_serving

    register_serving(commands, command)
    from engine.search.commands import register as register_sweeps

    register_sweeps(commands, command)
    from engine.explain.commands import register as register_explain

    register_explain(commands, command)
    from engine.team import register as register_team

    register_team(commands, command)

    calibrate = command(commands, "calibrate", cmd_calibrate,
                        "time a few training steps on this machine, for run-time estimates")
    calibrate.add_argument("--device", default="auto", help="'auto', 'cpu', 'cuda' or 'cuda:N'")
    calibrate.add_argument("--progress", action="store_true", help="print 'progress DONE TOTAL' lines while it runs")

    worker = command(commands, "worker", cmd_worker, "train queued runs on this machine")
    worker.add_argument("--once", action="store_true", help="exit when the queue is empty")
    worker.add_argument("--slots", type=int, help="runs at once (default: one per GPU, or 1 on the CPU)")
    worker.add_argument("--no-resume", action="store_true", help="do not resume interrupted runs automatically")
    worker.add_argument("--ensure", action="store_true",
                        help="start a worker in the background unless one is alive, then return")
    return root


def _check_text(args) -> None:
    """Refuse an argument holding a NUL character before it reaches the database (PostgreSQL cannot store one)."""
    for key, value in vars(args).items():
        for text in value if isinstance(value, list) else [value]:
            if isinstance(text, str) and "\x00" in text:
                raise UserError(f"The value given for {key.replace('_', '-')} holds an invisible NUL character (often "
                                "left by copying from another program). Type it again without it.")


def main(argv: list[str] | None = None) -> int:
    from db.access import AccessDenied

    args = parser().parse_args(argv)
    try:
        _check_text(args)
        args.handler(args)
    except (UserError, AccessDenied) as error:
        print(f"Error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader (`| head`) stopped early: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as error:  # the database not ready or out of reach, a broken file…: say it plainly
        message = _database_trouble(error)
        if message is None:
            raise
        print(f"Error: {message}", file=sys.stderr)
        return 2
    return 0


def _database_trouble(error: Exception) -> str | None:
    """Give back a plain message when error says the database is not ready or cannot be reached, else None."""
    from sqlalchemy.exc import ArgumentError, InterfaceError, NoSuchModuleError, OperationalError

    from db.session import DatabaseNotReady, database_url

    if isinstance(error, DatabaseNotReady):
        return str(error)
    if isinstance(error, (ArgumentError, NoSuchModuleError)):
        return (f"DATABASE_URL ({_shown_url(database_url())}) is not a database address Trainyard can use. Write it "
                "like postgresql+psycopg://user:password@host/trainyard, or unset it to use the SQLite file in "
                "TRAINYARD_HOME.")
    if isinstance(error, (OperationalError, InterfaceError)):
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        return (f"Could not reach the database at {_shown_url(database_url())}: {reason}. Check that it is running "
                "and that DATABASE_URL (or TRAINYARD_HOME) points at it, then try again.")
    return None
