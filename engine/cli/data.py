"""Commands for the database and the data sets: `init`, `models`, `datasets add|clean|sample|list|show|delete`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from engine.cli.common import emit, find_dataset, plain, ready, shown_url, table_text
from engine.errors import UserError


def cmd_init(args) -> None:
    from db.session import database_url, migrate, trainyard_home
    from engine.data.ingest import remove_leftovers

    revision = migrate()
    remove_leftovers()
    emit(args, {"database": shown_url(database_url()), "home": str(trainyard_home()), "revision": revision},
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
    emit(args, document, table_text(rows, ["NAME", "TITLE", "KINDS", "PRETRAINED", "AVAILABLE", "DEFAULT FOR"]) +
         f"\nPicture sets with up to {PRETRAINED_MAX_PER_CLASS} training pictures per class start from the pretrained "
         f"picture model, and text sets of up to {PRETRAINED_MAX_TEXTS:,} texts from the pretrained text model, "
         "when they are available.")


def cmd_datasets_add(args) -> None:
    from engine.data.ingest import KIND_WORDS, READING_NOTES, add_dataset
    from engine.data.profile import CHOSEN

    ready()
    path = Path(args.path)
    if not path.exists():
        raise UserError(f"There is no file at '{path}'.")
    roles = {role: getattr(args, f"{role}_column") for role in ("user", "item", "timestamp")
             if getattr(args, f"{role}_column") is not None} or None
    dataset = add_dataset(path, name=args.name, kind=args.kind, target=args.target, task=args.task,
                          text_column=args.text_column, roles=roles, image_size=_image_size(args.image_size))
    report = dataset["quality_report"]
    detected = report.get("detected", {})
    notes = "".join(f"\n{title}: {detected[key]}." for title, key in READING_NOTES if detected.get(key))
    problems = sum(p["severity"] != "info" for p in report.get("problems", []))
    reason = detected.get("target_reason", CHOSEN)
    kind_reason = detected.get("kind_reason", CHOSEN)
    read_as = f"\nRead as {KIND_WORDS[dataset['kind']]} because {kind_reason}." if (
        dataset["kind"] in ("ratings", "text") and kind_reason != CHOSEN) else ""
    other = ("use other columns, add the file again with --user-column, --item-column or --target NAME"
             if dataset["kind"] == "ratings" else "predict another column, add the file again with --target NAME")
    guessed = "" if reason == CHOSEN or dataset["kind"] == "image" else (
        f"\nPredicting '{dataset['target']}' because {reason}. To {other}.")
    emit(args, dataset_document(dataset) | {"detected": detected},
         f"Added data set {dataset['id']} '{dataset['name']}' ({dataset['kind']}): {dataset['n_rows']:,} rows, "
         f"predicting '{dataset['target']}' ({dataset['task']}); "
         f"{problems or 'no'} problem{'' if problems == 1 else 's'} found." + read_as + guessed + notes)


def cmd_datasets_clean(args) -> None:
    from engine.data.cleaning import clean_dataset
    from engine.data.fixes import STEP_SETTINGS

    dataset = find_dataset(args.dataset)
    step = {"step": args.step}
    for key in STEP_SETTINGS:
        if getattr(args, key, None) is not None:
            step[key] = getattr(args, key)
    cleaned = clean_dataset(dataset, step, name=args.name)
    changed = cleaned["quality_report"]["cleaning"]["changed"]
    emit(args, dataset_document(cleaned) | {"changed": changed, "before": cleaned["quality_report"]["before"]},
         f"Made data set {cleaned['id']} '{cleaned['name']}' from '{dataset['name']}': {changed}.")


def cmd_datasets_sample(args) -> None:
    from engine.data.samples import SAMPLES, add_sample

    ready()
    if args.sample is None:
        emit(args, [{"key": k, "kind": s.kind, "title": s.title, "description": s.description}
                    for k, s in SAMPLES.items()],
             table_text([[k, s.kind, s.title] for k, s in SAMPLES.items()], ["SAMPLE", "KIND", "TITLE"]))
        return
    if args.sample not in SAMPLES:
        raise UserError(f"There is no sample '{args.sample}'. Choose one of: {', '.join(SAMPLES)}.")
    dataset = add_sample(args.sample)
    emit(args, dataset_document(dataset), f"Added the sample {dataset['id']} '{dataset['name']}' ({dataset['kind']}).")


def cmd_datasets_list(args) -> None:
    from db import repo

    ready()
    datasets = repo.list_datasets()
    emit(args, [dataset_document(d) for d in datasets],
         table_text([[d["id"], d["name"], d["kind"], d["task"], d["target"], d["n_rows"]] for d in datasets],
                ["ID", "NAME", "KIND", "TASK", "TARGET", "ROWS"]) if datasets else "No data sets yet.")


def cmd_datasets_show(args) -> None:
    dataset = find_dataset(args.dataset)
    document = dataset_document(dataset) | {"schema": dataset["schema"], "quality_report": dataset["quality_report"]}
    problems = dataset["quality_report"].get("problems", [])
    text = json.dumps(plain(dataset_document(dataset)), indent=2) + "\n" + (
        "\n".join(f"- {p['title']}: {p['effect']} Fix: {p['fix']}" for p in problems) or "No problems found.")
    emit(args, document, text)


def cmd_datasets_delete(args) -> None:
    from db import explorer

    dataset = find_dataset(args.dataset)
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
