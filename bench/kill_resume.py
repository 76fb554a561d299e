"""How long a run is lost when its worker is killed: kill → interrupted → resumed → first new point.

Trains a small table in a real worker, SIGKILLs the worker after two epochs, starts a new worker and
prints the seconds each stage took. Last line: `kill_to_interrupted_s=<s> new_worker_to_training_s=<s>
new_worker_to_first_point_s=<s>`.

    .venv/bin/python bench/kill_resume.py
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def wait_for(predicate, timeout=300.0, every=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return time.monotonic()
        time.sleep(every)
    raise SystemExit("timed out")


def main() -> None:
    with tempfile.TemporaryDirectory() as home:
        os.environ["TRAINYARD_HOME"] = home
        os.environ.pop("DATABASE_URL", None)
        from db import repo
        from db.session import migrate
        from engine.config import RunConfig
        from engine.data.ingest import add_dataset
        from tests.conftest import make_table

        migrate()
        make_table(rows=3000).to_csv(Path(home) / "t.csv", index=False)
        dataset = add_dataset(Path(home) / "t.csv")
        config = RunConfig.model_validate({"training": {"epochs": 10, "batch_size": 16}}).model_dump()
        run_id = repo.create_run(dataset["id"], "mlp", config)["id"]

        def worker():
            return subprocess.Popen([sys.executable, "-m", "engine", "worker"], cwd=ROOT,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def epochs():
            return len(repo.metric_history(run_id, "val_loss"))

        first = worker()
        wait_for(lambda: epochs() >= 2)
        first.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        interrupted = wait_for(lambda: repo.get_run(run_id)["status"] == "interrupted")
        before = len(repo.metric_history(run_id, "train_loss"))
        second = worker()
        started = time.monotonic()
        training = wait_for(lambda: repo.get_run(run_id)["status"] == "running")
        kept = min(before, len(repo.metric_history(run_id, "train_loss")))
        first_point = wait_for(lambda: len(repo.metric_history(run_id, "train_loss")) > kept)
        wait_for(lambda: repo.get_run(run_id)["status"] == "completed")
        second.terminate()
        second.wait()
        steps = [p["step"] for p in repo.metric_history(run_id, "train_loss")]
        assert steps == sorted(set(steps)), "duplicate steps"
        print(f"kill → marked interrupted:           {interrupted - killed:6.2f} s")
        print(f"new worker start → training again:   {training - started:6.2f} s")
        print(f"new worker start → first new point:  {first_point - started:6.2f} s")
        print(f"val_loss epochs stored: {len(repo.metric_history(run_id, 'val_loss'))} of 10; "
              f"train_loss steps unique and ordered: {len(steps)}")
        print(f"kill_to_interrupted_s={interrupted - killed:.2f} new_worker_to_training_s={training - started:.2f} "
              f"new_worker_to_first_point_s={first_point - started:.2f}")


if __name__ == "__main__":
    main()
