"""Deleting a data set: what goes with it is said first, runs waiting or training on it stop it, and the command
line and the Data sets page delete the same things — rows, files, runs and their folders — keeping cleaned
versions."""

import json
from pathlib import Path

import pandas as pd
import pytest

from db import repo
from engine.data.cleaning import clean_dataset
from engine.data.ingest import add_dataset
from tests.conftest import cli, make_table, open_page, page_texts


def dataset_with_a_run(home: Path) -> tuple[dict, dict, dict]:
    """A data set, a cleaned version of it, and a finished run on the original with a file in its folder."""
    path = home / "shop.csv"
    table = make_table(rows=80)
    pd.concat([table, table.head(5)]).to_csv(path, index=False)
    dataset = add_dataset(path, name="shop")
    version = clean_dataset(dataset, {"step": "drop_duplicates"})
    run = repo.create_run(dataset["id"], "mlp", {"model": {"name": "mlp"}})
    repo.finish_run(run["id"], "completed")
    folder = home / "runs" / str(run["id"])
    folder.mkdir(parents=True)
    (folder / "model.pt").write_bytes(b"weights")
    return dataset, version, run


@pytest.mark.slow
def test_the_command_line_says_what_goes_then_deletes_it(home):
    dataset, version, run = dataset_with_a_run(home)
    files = Path(dataset["files_path"])
    asked = cli("datasets", "delete", "shop")
    assert asked.returncode != 0
    assert f"1 run trained on it ({run['id']})" in asked.stderr and "cleaned version" in asked.stderr
    assert repo.get_dataset("shop") is not None and files.is_dir()  # nothing goes without --yes

    done = cli("datasets", "delete", "shop", "--yes", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"deleted": dataset["id"], "runs": [run["id"]], "sweeps": [],
                                       "versions_kept": [version["id"]]}
    assert repo.get_dataset(dataset["id"]) is None and repo.get_run(run["id"]) is None
    assert not files.exists() and not (home / "runs" / str(run["id"])).exists()
    kept = repo.get_dataset(version["id"])
    assert kept is not None and kept["parent_id"] is None and Path(kept["files_path"]).is_dir()


@pytest.mark.slow
def test_a_data_set_with_a_waiting_run_is_not_deleted(home):
    dataset, _, _ = dataset_with_a_run(home)
    waiting = repo.create_run(dataset["id"], "mlp", {"model": {"name": "mlp"}})
    refused = cli("datasets", "delete", str(dataset["id"]), "--yes")
    assert refused.returncode != 0 and f"Runs {waiting['id']}" in refused.stderr and "Cancel" in refused.stderr
    assert repo.get_dataset(dataset["id"]) is not None and repo.get_run(waiting["id"]) is not None
    missing = cli("datasets", "delete", "nothing-here", "--yes")
    assert missing.returncode != 0 and "Traceback" not in missing.stderr


def test_the_data_sets_page_deletes_after_saying_what_goes(home):
    dataset, version, run = dataset_with_a_run(home)
    at = open_page("datasets", dataset=dataset["id"])
    assert f"1 run trained on it ({run['id']})" in page_texts(at)
    button = next(b for b in at.button if b.label == "Delete the data set")
    assert button.disabled  # until the user says they understand
    next(c for c in at.checkbox if c.label.startswith("I understand")).check().run()
    next(b for b in at.button if b.label == "Delete the data set").click().run()
    assert not at.exception, at.exception
    assert any("Deleted the data set 'shop'" in s.value for s in at.success)
    assert repo.get_dataset(dataset["id"]) is None and repo.get_run(run["id"]) is None
    assert repo.get_dataset(version["id"]) is not None
