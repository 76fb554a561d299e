"""Commands for training and runs: `train`, `runs list|show|metrics|compare|archive|delete|cancel`, `worker`,
`calibrate`."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from db.models import FINISHED, RunStatus
from engine.cli.common import (
    SUMMARY_KEYS,
    emit,
    find_dataset,
    find_run,
    parse_value,
    plain,
    ready,
    table_text,
)
from engine.errors import UserError
from engine.words import plain_number


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
        set_dotted(changes, key.strip(), parse_value(value.strip()))
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
            if run["status"] in FINISHED:
                return run
            time.sleep(0.5)
    finally:
        if started is not None:
            started.terminate()
            started.wait(timeout=30)


def cmd_train(args) -> None:
    from db import repo

    dataset = find_dataset(args.dataset)
    if str(args.preset).strip().lower() == "auto":
        from engine.cli.sweeps import train_auto

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
    if run["status"] == RunStatus.FAILED:
        text += f" {run['error']}"
    elif document["summary"]:
        text += " " + ", ".join(f"{k}={plain_number(v, 4, separators=False)}" for k, v in document["summary"].items()
                                if k in SUMMARY_KEYS)
    if by_hand:
        from engine.jobs.launch import torchrun_command

        document["torchrun"] = torchrun_command(run)
        text += (" Trainyard's workers leave it to your cluster's scheduler: start it"
                 + (f" on each of its {config['training']['machines']} machines" if config["training"]["machines"] > 1
                    else "") + f" with\n  {document['torchrun']}")
    emit(args, document, text)
    if args.wait and run["status"] != RunStatus.COMPLETED:
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

    ready()
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
                return f"{key}={plain_number(metrics[key]['last'], 4, separators=False)}"
        return ""

    emit(args, documents, table_text(
        [[r["id"], r["status"], r["dataset"], r["model"], f"{r['progress']:.0%}", best(r)] for r in runs],
        ["ID", "STATUS", "DATA SET", "MODEL", "PROGRESS", "RESULT"]) if runs else "No runs yet.")


def cmd_runs_show(args) -> None:
    run = find_run(args.run_id)
    document = run_document(run)
    emit(args, document, json.dumps(plain(document), indent=2, default=str))


def cmd_runs_metrics(args) -> None:
    from db import explorer, repo

    find_run(args.run_id)
    if args.csv:
        sys.stdout.write(explorer.metrics_csv(args.run_id, args.key))
        return
    if args.points:  # down-sampled as the charts draw it: each bucket's lowest and highest point
        history = explorer.run_history(args.run_id, [args.key] if args.key else None, args.points)
        points = [{"key": key, **point} for key, curve in history.items() for point in curve]
    else:
        points = repo.metric_history(args.run_id, args.key)
    emit(args, points, table_text([[p["key"], p["step"], p["epoch"], f"{p['value']:.6g}"] for p in points],
                              ["KEY", "STEP", "EPOCH", "VALUE"]) if points else "No metrics recorded yet.")


def cmd_runs_compare(args) -> None:
    from db import explorer

    for run_id in args.run_ids:
        find_run(run_id)
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
                   f"{plain_number(document['best_value'], 4)}: none is better")
    else:
        verdict = f"Best by {document['metric']}: run {document['best_run']}"
    leaders = set(document["tied"]) | {document["best_run"]}
    rows = [[("*" if r["id"] in leaders else "") + str(r["id"]), r["name"] or "", r["model"]]
            + [plain_number(r["best"][k], 4) if k in r["best"] else "" for k in keys] for r in document["runs"]]
    differ = "\n".join(f"  {k}: " + ", ".join(f"run {i}={v}" for i, v in values.items())
                       for k, values in document["settings_that_differ"].items()) or "  none"
    emit(args, document, table_text(rows, ["RUN", "NAME", "MODEL"] + [k.upper() for k in keys])
         + f"\n\n{verdict}. Settings that differ:\n{differ}")


def cmd_runs_archive(args) -> None:
    from db import explorer

    for run_id in args.run_ids:
        find_run(run_id)
    changed = explorer.archive_runs(args.run_ids, archived=not args.restore)
    left = sorted(set(args.run_ids) - set(changed))
    text = f"{'Restored' if args.restore else 'Archived'} {len(changed)} run(s)."
    if left and not args.restore:
        text += f" Left as they are (waiting, training or already archived): {', '.join(map(str, left))}."
    emit(args, {"changed": changed, "unchanged": left}, text)


def cmd_runs_delete(args) -> None:
    from db import explorer

    for run_id in args.run_ids:
        find_run(run_id)
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

    find_run(args.run_id)
    outcome = repo.request_cancel(args.run_id)
    text = {RunStatus.CANCELLED: f"Run {args.run_id} cancelled.",
            "requested": f"Run {args.run_id} is stopping; its worker ends it within seconds."}.get(
        outcome, f"Run {args.run_id} had already ended ({outcome}).")
    emit(args, {"id": args.run_id, "outcome": outcome}, text)


def cmd_worker(args) -> None:
    from engine.jobs.worker import Worker

    ready()
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
