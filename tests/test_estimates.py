"""Estimates that learn: the calibration's price of a run, corrected by this computer's finished runs."""

import json
from datetime import datetime, timedelta

import pytest
from sqlalchemy import update

from db import repo
from db.models import Run
from db.session import session_scope
from engine.calibrate import calibration_path
from engine.data.samples import add_sample
from engine.estimates import TELLING_SECONDS, estimate_run, human_range, queue_waits
from engine.models.estimate import RUN_START_SECONDS
from engine.presets import starting_config
from tests.conftest import cli, open_page, page_texts

CALIBRATION = {"devices": {"cpu": {"seconds_per_step": 0.002, "seconds_per_unit": 1e-8}}, "auto": "cpu",
               "measured_at": "2026-01-01T00:00:00+00:00"}


@pytest.fixture
def iris(home):
    return add_sample("iris")


def finished_run(dataset: dict, config: dict, seconds: float, steps: int) -> dict:
    """Store a run that finished on the CPU after seconds, having taken steps training steps."""
    run = repo.create_run(dataset["id"], config["model"]["name"], config)
    start = datetime(2026, 1, 1, 12, 0, 0) + timedelta(minutes=run["id"])
    with session_scope(write=True) as session:
        session.execute(update(Run).where(Run.id == run["id"]).values(
            status="completed", started_at=start, finished_at=start + timedelta(seconds=seconds), device="cpu",
            attempts=1))
    repo.log_metrics(run["id"], [("train_loss", step, 1.0 / step, None, 0.0) for step in (1, steps)])
    return run


def test_without_a_measurement_the_estimate_says_how_to_get_one(iris):
    estimate = estimate_run(starting_config(iris, "mlp", "balanced", {}), iris)
    assert estimate.seconds is None and estimate.words == "not measured yet"
    assert "measure it once" in estimate.basis
    assert estimate.parameters > 0 and estimate.memory.total > 0  # memory needs no measurement


def test_finished_runs_correct_the_measurement_and_narrow_the_range(iris):
    calibration_path().write_text(json.dumps(CALIBRATION))
    start = RUN_START_SECONDS["tabular"]
    # a run whose training is priced under TELLING_SECONDS is mostly its start: it corrects nothing
    short = starting_config(iris, "mlp", "quick", {"training": {"early_stopping_patience": 0, "epochs": 3}})
    alone = estimate_run(short, iris)
    assert alone.seconds - start < TELLING_SECONDS
    finished_run(iris, short, 3 * alone.seconds, alone.steps)
    assert estimate_run(short, iris).seconds == alone.seconds and not estimate_run(short, iris).learned_from

    config = starting_config(iris, "mlp", "quick", {"training": {"early_stopping_patience": 0, "epochs": 400}})
    first = estimate_run(config, iris)
    assert first.seconds - start > TELLING_SECONDS
    assert first.low < first.seconds < first.high and not first.learned_from
    assert first.high / first.low == pytest.approx(4, rel=0.01)  # half to double: the measurement alone
    assert "alone" in first.basis

    # runs like it trained three times as long as priced: the next estimate says so, with a narrower range
    for _ in range(3):
        finished_run(iris, config, start + 3 * (first.seconds - start), first.steps)
    learned = estimate_run(config, iris)
    assert learned.seconds == pytest.approx(start + 3 * (first.seconds - start), rel=0.01)
    assert learned.low < learned.seconds < learned.high and learned.high / learned.low < first.high / first.low
    assert len(learned.learned_from) == 3
    assert "3 finished runs of the same model and preset on this data set" in learned.basis

    # a run of another model on the data set teaches less than those of the same model
    other = starting_config(iris, "mlp", "quick", {"model": {"hidden_sizes": [8]}})
    assert estimate_run(other, iris).learned_from  # same model name: learned


def test_the_wait_for_a_run_process_to_start_is_not_taken_for_training(iris):
    calibration_path().write_text(json.dumps(CALIBRATION))
    config = starting_config(iris, "mlp", "quick", {"training": {"early_stopping_patience": 0, "epochs": 400}})
    first = estimate_run(config, iris)
    for _ in range(2):  # each took its price, after 4 s waiting for its process to be ready
        run = finished_run(iris, config, first.seconds + 4.0, first.steps)
        repo.set_run_environment(run["id"], "cpu", {"start_wait_seconds": 4.0})
    learned = estimate_run(config, iris)
    assert learned.learned_from and learned.seconds == pytest.approx(first.seconds, rel=0.01)


def test_runs_too_short_to_correct_the_price_still_tell_where_early_stopping_ends(iris):
    calibration_path().write_text(json.dumps(CALIBRATION))
    config = starting_config(iris, "mlp", "balanced", {"training": {"early_stopping_patience": 5, "epochs": 100}})
    before = estimate_run(config, iris)
    for _ in range(2):  # stopped after a tenth of their steps: under TELLING_SECONDS of training
        finished_run(iris, config, 1.0, before.steps // 10)
    learned = estimate_run(config, iris)
    assert not learned.learned_from and learned.seconds < before.seconds


def test_early_stopping_shortens_the_estimate_by_the_share_runs_like_it_took(iris):
    calibration_path().write_text(json.dumps(CALIBRATION))
    config = starting_config(iris, "mlp", "balanced", {"training": {"early_stopping_patience": 5, "epochs": 400}})
    full = estimate_run({**config, "training": {**config["training"], "early_stopping_patience": 0}}, iris)
    before = estimate_run(config, iris)
    assert before.early_stopping and before.seconds < full.seconds and before.high >= full.seconds
    assert "Early stopping may end the run sooner" in before.basis
    # runs like it stopped after a fifth of their steps, taking their price there
    start = RUN_START_SECONDS["tabular"]
    fifth = start + (full.seconds - start) / 5
    for _ in range(2):
        run = finished_run(iris, config, fifth, before.steps // 5)
    learned = estimate_run(config, iris)
    assert learned.seconds == pytest.approx(fifth, rel=0.05) and learned.seconds < before.seconds
    assert run["id"] in learned.learned_from


def test_runs_of_the_same_preset_elsewhere_teach_more_than_another_preset_here(iris):
    """The preset shapes the network: a Balanced run learns its pace from Balanced runs on other tables before a
    Quick run on its own, and where early stopping ends from its own data set's runs before other tables'."""
    calibration_path().write_text(json.dumps(CALIBRATION))
    table = add_sample("iris")  # a second table
    start = RUN_START_SECONDS["tabular"]
    long = {"training": {"early_stopping_patience": 0, "epochs": 400}}
    quick, balanced = starting_config(iris, "mlp", "quick", long), starting_config(iris, "mlp", "balanced", long)
    elsewhere = starting_config(table, "mlp", "balanced", long)
    priced, quick_price, other = (estimate_run(balanced, iris), estimate_run(quick, iris),
                                  estimate_run(elsewhere, table))  # before any run finished
    finished_run(iris, quick, start + 0.5 * (quick_price.seconds - start), quick_price.steps)  # Quick here: 0.5
    finished_run(table, elsewhere, start + 2 * (other.seconds - start), other.steps)  # Balanced elsewhere: 2
    learned = estimate_run(balanced, iris)
    assert learned.seconds == pytest.approx(start + 2 * (priced.seconds - start), rel=0.01)
    assert "the same model and preset on other data sets" in learned.basis

    # early stopping: Balanced elsewhere stopped at a quarter of its steps; this table's end is its own
    stopping = starting_config(iris, "mlp", "balanced", {"training": {"early_stopping_patience": 5, "epochs": 400}})
    full = estimate_run({**stopping, "training": {**stopping["training"], "early_stopping_patience": 0}}, iris)
    stopped = starting_config(table, "mlp", "balanced", {"training": {"early_stopping_patience": 5, "epochs": 400}})
    finished_run(table, stopped, start + 2 * (other.seconds - start) / 4, other.steps // 4)
    # half-way (in proportion) between a quarter of the steps and all of them (full: at the pace learned)
    assert estimate_run(stopping, iris).seconds == pytest.approx(start + (full.seconds - start) / 2, rel=0.02)
    finished_run(iris, stopping, start + (full.seconds - start) / 4, full.steps // 4)  # and here too
    assert estimate_run(stopping, iris).seconds == pytest.approx(start + (full.seconds - start) / 4, rel=0.02)


def test_queue_waits_add_up_the_runs_ahead_over_the_workers_slots(iris):
    calibration_path().write_text(json.dumps(CALIBRATION))
    config = starting_config(iris, "mlp", "quick", {})
    each = estimate_run(config, iris).seconds
    running = repo.create_run(iris["id"], "mlp", config)
    queued = [repo.create_run(iris["id"], "mlp", config) for _ in range(3)]
    with session_scope(write=True) as session:
        session.execute(update(Run).where(Run.id == running["id"]).values(status="running", eta_seconds=100.0))
    active = repo.list_runs(statuses=["queued", "running"], with_metrics=False)
    positions = repo.queue_positions()
    one = queue_waits(active, positions, slots=1)
    assert one[queued[0]["id"]] == pytest.approx(100)
    assert one[queued[1]["id"]] == pytest.approx(100 + each)
    assert one[queued[2]["id"]] == pytest.approx(100 + 2 * each)
    two = queue_waits(active, positions, slots=2)
    assert two[queued[0]["id"]] == 0 and two[queued[1]["id"]] == pytest.approx(min(100, each))
    with session_scope(write=True) as session:  # a training run without a pace yet: the wait is unknown
        session.execute(update(Run).where(Run.id == running["id"]).values(eta_seconds=None))
    active = repo.list_runs(statuses=["queued", "running"], with_metrics=False)
    assert queue_waits(active, positions, slots=1)[queued[0]["id"]] is None


@pytest.mark.slow
def test_the_command_line_prints_the_estimate_and_queues_nothing(iris):
    calibration_path().write_text(json.dumps(CALIBRATION))
    done = cli("train", "--dataset", str(iris["id"]), "--preset", "quick", "--estimate", "--json")
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["low"] < document["seconds"] < document["high"]
    assert document["memory_bytes"] > 0 and document["parameters"] > 0 and document["preset"] == "Quick"
    assert repo.list_runs() == []
    text = cli("train", "--dataset", str(iris["id"]), "--estimate").stdout
    assert "training time" in text and "Nothing was queued." in text
    refused = cli("train", "--dataset", str(iris["id"]), "--preset", "auto", "--budget", "1m", "--estimate")
    assert refused.returncode == 2 and "--estimate is for one run" in refused.stderr


def test_the_new_run_page_shows_the_range_and_what_it_rests_on(iris):
    calibration_path().write_text(json.dumps(CALIBRATION))
    at = open_page("new_run", dataset=iris["id"])
    assert not at.exception
    text = page_texts(at)
    assert "Training time: likely" in text and "no run like it has finished here yet" in text


def test_a_waiting_run_says_when_it_should_start(iris):
    calibration_path().write_text(json.dumps(CALIBRATION))
    config = starting_config(iris, "mlp", "quick", {})
    running = repo.create_run(iris["id"], "mlp", config)
    waiting = repo.create_run(iris["id"], "mlp", config)
    with session_scope(write=True) as session:
        session.execute(update(Run).where(Run.id == running["id"]).values(status="running", eta_seconds=125.0))
    repo.register_worker("here", 1, 1, ["cpu"])
    text = page_texts(open_page("run", run=waiting["id"]))
    assert "Next in line. It should start in about 2 min 05 s." in text
    queue = open_page("queue")
    assert not queue.exception
    frame = queue.dataframe[0].value
    assert frame.loc[frame["Run"] == waiting["id"], "Time left"].item() == "starts in about 2 min 05 s"


def test_a_new_tables_estimate_counts_the_inputs_its_numbers_read_by_range(home, tmp_path):
    from engine.config import validate_run_config
    from engine.data.ingest import add_dataset
    from engine.data.prepare import prepare_dataset
    from engine.models.registry import model_size
    from tests.conftest import make_table

    path = tmp_path / "big.csv"
    make_table(rows=4000).to_csv(path, index=False)
    table = add_dataset(path)
    config = validate_run_config(starting_config(table, "mlp", "balanced", {}))
    assert config.model.number_ranges == "half"
    data = prepare_dataset(table, config.split.validation_fraction, config.split.test_fraction, config.split.seed)
    prepared = model_size(config.model, data.spec).parameters
    plain = model_size(config.model.model_copy(update={"number_ranges": "none"}), data.spec).parameters
    # before any run, the schema alone: the guess counts each number's ranges as preparing it does
    guessed = estimate_run(config, table).parameters
    assert prepared > 2 * plain
    assert guessed == pytest.approx(prepared, rel=0.25)


def test_factorisations_side_by_side_and_the_items_each_user_rated_are_priced_as_they_took():
    """Measured on 2 cores: four factorisations side by side took 1.5–1.9 times one, eight 2.2–2.5 times; the rated
    items add a cost by how many a batch's users bring, whatever the vectors' width."""
    from engine.models.estimate import training_seconds
    from engine.models.zoo.matrix_factorization import MatrixFactorizationConfig, matrix_factorization_size

    calibration = {"seconds_per_step": 2e-4, "seconds_per_unit": 4e-9}
    heavy = {"n_users": 671, "n_items": 9066, "user_counts": [2391] + [147] * 670}  # 100,000 film ratings' shape
    light = {**heavy, "user_counts": [147] * 671}

    def seconds(spec, **settings):
        size = matrix_factorization_size(MatrixFactorizationConfig(factors=32, **settings), spec)
        return training_seconds(size, 70_000, 256, 10, calibration)

    one = seconds(heavy)
    assert 1.3 < seconds(heavy, members=4) / one < 2.0
    assert 1.8 < seconds(heavy, members=8) / one < 3.0
    assert seconds(light) < one < 5 * seconds(heavy, rated_items=False)
    assert seconds(heavy, rated_items=False, members=4) / seconds(heavy, rated_items=False) < 3.0


def test_ranges_read_as_a_person_says_them():
    assert human_range(20, 50) == "20–50 seconds"
    assert human_range(70, 170) == "1–3 minutes"
    assert human_range(120, 5400) == "2 minutes–1.5 hours"
    assert human_range(3, 3) == "about 3 seconds"



def test_the_pretrained_encoders_reading_is_learned_apart_from_training(home):
    reviews = add_sample("reviews")
    calibration_path().write_text(json.dumps(CALIBRATION))
    config = starting_config(reviews, "minilm", "quick", {})
    first = estimate_run(config, reviews)
    assert "reading every example once through the pretrained network" in first.basis
    # a run on it read the texts in 40 s and then trained in 10 s: the next run that reads them says so
    run = finished_run(reviews, config, 50.0, first.steps)
    with session_scope(write=True) as session:
        session.execute(update(Run).where(Run.id == run["id"]).values(environment={"encoding_seconds": 40.0}))
    again = estimate_run(config, reviews)
    assert again.seconds == pytest.approx(50.0, rel=0.05)
    # a run tuned on pairs first, which read ten times slower than its price, teaches nothing of reading alone
    pairs = starting_config(reviews, "minilm", "quick", {"model": {"train_part": "pairs"}})
    tuned_price = estimate_run(pairs, reviews).seconds
    run = finished_run(reviews, pairs, 10 * tuned_price + 10.0, first.steps)  # trained in 10 s, as the first
    with session_scope(write=True) as session:
        session.execute(update(Run).where(Run.id == run["id"]).values(
            environment={"encoding_seconds": 10 * tuned_price}))
    assert estimate_run(config, reviews).seconds == pytest.approx(again.seconds)
    assert estimate_run(pairs, reviews).seconds > 5 * tuned_price


def test_a_reading_partly_done_before_is_priced_and_learned_for_its_share(home):
    import numpy as np

    from engine.data.prepared import features_path, partial_path

    reviews = add_sample("reviews")
    calibration_path().write_text(json.dumps(CALIBRATION))
    config = starting_config(reviews, "minilm", "quick", {})
    # a run that read the second half of the texts itself, in 20 s (the worker had read the rest ahead), then
    # trained in 10 s: it read at the pace of a run that reads them all in 40 s
    run = finished_run(reviews, config, 30.0, estimate_run(config, reviews).steps)
    with session_scope(write=True) as session:
        session.execute(update(Run).where(Run.id == run["id"]).values(
            environment={"encoding_seconds": 20.0, "encoding_share": 0.5}))
    assert estimate_run(config, reviews).seconds == pytest.approx(50.0, rel=0.05)
    # a reading stopped half way (its shortest 900 texts): the next run reads the other half
    path = features_path(reviews, "minilm")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(partial_path(path), "wb") as file:
        np.savez(file, features=np.zeros((1500, 4), np.float16), done=np.arange(1500) < 900, read=0.5)
    halfway = estimate_run(config, reviews)
    assert halfway.seconds == pytest.approx(30.0, rel=0.05)
    assert "reading the rest of the examples through the pretrained network, about 50% of the reading" in halfway.basis


def test_a_pretrained_encoders_reading_is_priced_by_the_texts_own_lengths(home):
    from engine.models.estimate import dataset_spec
    from engine.models.zoo.minilm import MiniLMConfig, minilm_size

    reviews = add_sample("reviews")
    spec, _ = dataset_spec(reviews)
    assert sum(count for _, count in spec["text_words"]) == reviews["n_rows"]  # its report's histogram of lengths
    config, base = MiniLMConfig(train_part="head"), {"n_outputs": 2, "max_length": 200}

    def per_text(text_words: list[list[float]]) -> float:
        return minilm_size(config, {**base, "text_words": text_words}).encoding_per_example

    # the texts are read shortest first, each batch as wide as its longest: one long text does not make every
    # text cost its length, and texts four times as long cost four to six times as much (attention grows faster)
    assert per_text([[15, 99], [200, 1]]) < 1.3 * per_text([[15, 100]])
    assert 4 < per_text([[60, 100]]) / per_text([[15, 100]]) < 6


def test_tuning_the_pretrained_encoder_on_pairs_is_priced_and_read_again_each_run(home):
    from engine.config import validate_run_config
    from engine.data.prepared import features_path
    from engine.models.estimate import dataset_spec, tuning_seconds
    from engine.models.registry import model_size
    from engine.models.pairs import pair_count

    reviews = add_sample("reviews")
    calibration_path().write_text(json.dumps(CALIBRATION))
    head = starting_config(reviews, "minilm", "balanced", {"model": {"train_part": "head"}})
    pairs = starting_config(reviews, "minilm", "balanced", {"model": {"train_part": "pairs"}})
    frozen, tuned = estimate_run(head, reviews), estimate_run(pairs, reviews)
    size = model_size(validate_run_config(pairs).model, dataset_spec(reviews)[0])
    tuning = tuning_seconds(size, pair_count(tuned.n_train), CALIBRATION["devices"]["cpu"])
    assert tuning > 0 and tuned.seconds == pytest.approx(frozen.seconds + tuning)
    assert f"tuning the pretrained network on {pair_count(tuned.n_train):,} pairs" in tuned.basis
    # tuning trains every weight of the encoder with AdamW: gradients and two copies of each
    assert tuned.memory.optimizer == 2 * tuned.memory.gradients == 2 * tuned.memory.weights
    assert tuned.memory.total > frozen.memory.total
    # once the data set's sentence vectors are kept, a run of the last layer alone no longer reads the texts, but
    # a run tuned on pairs reads them with its own encoder
    features_path(reviews, "minilm").parent.mkdir(parents=True, exist_ok=True)
    features_path(reviews, "minilm").write_bytes(b"")
    assert estimate_run(head, reviews).seconds < frozen.seconds
    assert estimate_run(pairs, reviews).seconds == pytest.approx(tuned.seconds)


def test_a_run_started_from_a_tuned_encoder_is_priced_with_reading_every_example(home):
    from engine.data.prepared import features_path

    reviews = add_sample("reviews")
    calibration_path().write_text(json.dumps(CALIBRATION))
    features_path(reviews, "minilm").parent.mkdir(parents=True, exist_ok=True)
    features_path(reviews, "minilm").write_bytes(b"")  # the untouched encoder's sentence vectors are kept
    head = starting_config(reviews, "minilm", "balanced", {"model": {"train_part": "head"}})
    tuned = repo.create_run(reviews["id"], "minilm", starting_config(reviews, "minilm", "balanced",
                                                                     {"model": {"train_part": "pairs"}}))
    after_tuned = repo.create_run(reviews["id"], "minilm", starting_config(
        reviews, "minilm", "balanced", {"model": {"train_part": "head"}, "training": {"init_from": tuned["id"]}}))
    untouched = repo.create_run(reviews["id"], "minilm", head)
    reuses = estimate_run(head, reviews)
    for start, reads in ((tuned, True), (after_tuned, True), (untouched, False)):  # after_tuned: through its start
        config = starting_config(reviews, "minilm", "balanced",
                                 {"model": {"train_part": "head"}, "training": {"init_from": start["id"]}})
        estimate = estimate_run(config, reviews)
        assert (estimate.seconds > reuses.seconds) is reads, start["id"]
        assert (f"as run {start['id']}'s training left it" in estimate.basis) is reads


def test_a_runs_steps_are_its_training_steps_not_its_tuning_on_pairs():
    from engine.estimates import _steps_done
    from engine.models.pairs import TUNING_LOSS

    run = {"metrics": {"train_loss": {"last_step": 18}, "val_loss": {"last_step": 18}, TUNING_LOSS: {"last_step": 40}}}
    assert _steps_done(run) == 18  # 60 texts tune in 40 steps of pairs, then train 18 steps: priced on the 18
