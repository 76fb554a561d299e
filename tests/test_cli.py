"""The command line contract: --json prints exactly one JSON document; errors are plain and non-zero."""

import json

import pytest

from tests.conftest import cli, make_table


@pytest.mark.slow
def test_init_add_train_show(home, table_csv):
    assert cli("init", "--json").returncode == 0
    added = cli("datasets", "add", str(table_csv), "--name", "toy", "--json")
    assert added.returncode == 0, added.stderr
    dataset = json.loads(added.stdout)
    assert dataset["name"] == "toy" and dataset["target"] == "label" and dataset["task"] == "classification"

    listed = json.loads(cli("datasets", "list", "--json").stdout)
    assert [d["name"] for d in listed] == ["toy"]
    shown = json.loads(cli("datasets", "show", "toy", "--json").stdout)
    assert shown["quality_report"]["rows"] == 120

    trained = cli("train", "--dataset", "toy", "--epochs", "3", "--batch-size", "32", "--lr", "0.01",
                  "--optimizer", "sgd", "--set", "model.hidden_sizes=[16]", "--wait", "--json")
    assert trained.returncode == 0, trained.stderr
    run = json.loads(trained.stdout)
    assert run["status"] == "completed", run["error"]
    assert run["config"]["training"]["optimizer"] == "sgd"
    assert run["config"]["model"]["hidden_sizes"] == [16]
    for key in ("test_accuracy", "test_f1_macro", "test_precision_macro", "test_recall_macro", "val_loss",
                "train_loss", "epochs_completed", "samples_per_second"):
        assert key in run["summary"], key
    assert run["summary"]["epochs_completed"] == 3
    assert 0 <= run["summary"]["test_accuracy"] <= 1

    shown = json.loads(cli("runs", "show", str(run["id"]), "--json").stdout)
    assert shown["summary"] == run["summary"]
    assert {"id", "status", "dataset", "model", "config", "error", "summary"} <= set(shown)

    history = json.loads(cli("runs", "metrics", str(run["id"]), "--key", "val_loss", "--json").stdout)
    assert [p["epoch"] for p in history] == [1.0, 2.0, 3.0]
    assert {"key", "step", "epoch", "value", "time"} <= set(history[0])

    runs = json.loads(cli("runs", "list", "--json").stdout)
    assert runs[0]["id"] == run["id"] and runs[0]["status"] == "completed"


@pytest.mark.slow
def test_errors_are_plain_and_nonzero(home, tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    result = cli("datasets", "add", str(empty))
    assert result.returncode != 0 and "empty" in result.stderr and "Traceback" not in result.stderr

    result = cli("train", "--dataset", "nope")
    assert result.returncode != 0 and "no data set" in result.stderr.lower()

    path = tmp_path / "t.csv"
    table = make_table()
    table.loc[3, "x1"] = None
    table.to_csv(path, index=False)
    added = cli("datasets", "add", str(path), "--name", "t").stdout
    assert "120 rows, predicting 'label' (classification); 1 problem found." in added
    assert ("Predicting 'label' because its name, 'label', is a usual name for the column to predict. To predict "
            "another column, add the file again with --target NAME.") in added
    chosen = cli("datasets", "add", str(path), "--name", "t2", "--target", "label").stdout
    assert "1 problem found." in chosen and "--target NAME" not in chosen  # nothing guessed, nothing to say
    result = cli("train", "--dataset", "t", "--set", "training.epochs=0")
    assert result.returncode != 0 and "epochs" in result.stderr and "Traceback" not in result.stderr
    result = cli("train", "--dataset", "t", "--set", "training.bogus=1")
    assert result.returncode != 0 and "not a setting" in result.stderr
    result = cli("train", "--dataset", "t", "--preset", "fastest")
    assert result.returncode != 0 and "no preset 'fastest'" in result.stderr and "Traceback" not in result.stderr
    result = cli("train", "--dataset", "t", "--preset", "best", "--set", "training.learning_rate=50")
    assert result.returncode != 0 and "learning_rate" in result.stderr and "Traceback" not in result.stderr
    result = cli("runs", "show", "999")
    assert result.returncode != 0 and "no run 999" in result.stderr.lower()


@pytest.mark.slow
def test_cancel_queued_run(home, table_csv):
    cli("datasets", "add", str(table_csv), "--name", "toy")
    run = json.loads(cli("train", "--dataset", "toy", "--json").stdout)
    assert run["status"] == "queued"
    cancelled = json.loads(cli("runs", "cancel", str(run["id"]), "--json").stdout)
    assert cancelled["outcome"] == "cancelled"
    assert json.loads(cli("runs", "show", str(run["id"]), "--json").stdout)["status"] == "cancelled"


@pytest.mark.slow
def test_train_starts_from_a_preset_and_changes_settings_on_top(home, table_csv):
    from engine.presets import preset_for
    from db import repo

    cli("datasets", "add", str(table_csv), "--name", "toy")
    dataset = repo.get_dataset("toy")
    plain = json.loads(cli("train", "--dataset", "toy", "--json").stdout)["config"]
    assert plain["preset"] == "Balanced" and plain["training"] == {
        **plain["training"], **preset_for(dataset, "mlp", "Balanced").training}
    quick = json.loads(cli("train", "--dataset", "toy", "--preset", "QUICK", "--set", "model.dropout=0.3",
                           "--epochs", "4", "--json").stdout)["config"]
    assert quick["preset"] == "Quick" and quick["model"]["hidden_sizes"] == [64]  # the Quick network
    assert quick["model"]["dropout"] == 0.3 and quick["training"]["epochs"] == 4  # the changes on top
