"""Queue actions shared by the dashboard and the command line (no torch here)."""

from __future__ import annotations


from db import repo
from db.models import RunStatus
from db.session import run_folder


def has_checkpoint(run_id: int) -> bool:
    return (run_folder(run_id) / "checkpoint.pt").exists()


def queue_again(run_id: int, fresh: bool = False) -> str:
    """Queue an ended run again; give back a sentence saying what happens next.

    An interrupted run with a checkpoint resumes where it stopped; anything else starts over.
    """
    run = repo.get_run(run_id)
    if run is None:
        raise KeyError(run_id)
    if run["status"] in (RunStatus.QUEUED, RunStatus.RUNNING):
        return f"Run {run_id} is already {'waiting' if run['status'] == RunStatus.QUEUED else 'training'}."
    resumes = run["status"] == RunStatus.INTERRUPTED and not fresh and has_checkpoint(run_id)
    if not resumes:
        (run_folder(run_id) / "checkpoint.pt").unlink(missing_ok=True)
        (run_folder(run_id) / "model.pt").unlink(missing_ok=True)
    repo.requeue_run(run_id, fresh=not resumes)
    return (f"Run {run_id} will resume from its last checkpoint." if resumes
            else f"Run {run_id} is queued to train again from the start.")


def log_tail(run_id: int, lines: int = 40) -> str:
    """Give back the last lines the run's training process printed."""
    path = run_folder(run_id) / "output.log"
    if not path.exists():
        return ""
    with open(path, "rb") as handle:
        handle.seek(0, 2)
        size = handle.tell()
        handle.seek(max(0, size - 64 * 1024))
        text = handle.read().decode("utf-8", errors="replace")
    return "\n".join(text.splitlines()[-lines:])
