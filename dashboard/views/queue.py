"""Queue: what is waiting, training and just finished, on which machine, and what the machines have left."""

import pandas as pd
import streamlit as st

from db import repo
from db.models import ACTIVE, FINISHED, RunStatus
from db.session import trainyard_home
from dashboard.components import state
from dashboard.components.nav import go
from dashboard.components.sweeps import sweep_of
from engine.estimates import queue_waits
from engine.jobs.queue import log_tail, queue_again
from engine.jobs.resources import machine_status
from engine.jobs.worker import STALE_SECONDS

st.title("Queue")
st.caption("Runs train in background workers: closing this page never stops them.")

live = st.toggle("Live updates", value=True, key="queue-live", help="Refresh every two seconds.")


def waiting_device(training: dict) -> str:
    """Give back, in words, what a waiting run waits for: its device, its processes, or a cluster's scheduler."""
    if training.get("launcher") == "torchrun":
        return "your cluster's scheduler (torchrun)"
    wish = device_wish(training.get("device", "auto"))
    processes = training.get("processes", 1) * training.get("machines", 1)
    if processes > 1:
        machines = training.get("machines", 1)
        return f"{wish}, {processes} processes" + (f" on {machines} machines" if machines > 1 else "")
    return wish


def device_wish(device: str) -> str:
    """Give back, in words, what a waiting run asked for: any free device, or one device it waits for."""
    return {"auto": "any free one", "cpu": "the processor", "cuda": "any free GPU"}.get(device, f"waits for {device}")


def time_left(run: dict, waits: dict[int, float | None]) -> str:
    """Give back, in words, when a run should end (training) or start (waiting)."""
    if run["status"] == RunStatus.RUNNING:
        return state.duration(run["eta_seconds"])
    if run["id"] in waits:
        wait = waits[run["id"]]
        return "starts when a worker is free" if wait is None else f"starts in about {state.duration(wait)}"
    return ""


def queue_table(runs: list[dict], positions: dict[int, int], waits: dict[int, float | None]) -> pd.DataFrame:
    sweeps = sweep_of(runs)
    machines = repo.shared_run_hosts([run["id"] for run in runs if run["status"] == RunStatus.RUNNING])
    rows = []
    for run in runs:
        training = run["config"]["training"]
        rows.append({
            "Run": run["id"],
            "Name": run["name"] or "",
            **({"Sweep": sweeps.get(run["id"], "")} if sweeps else {}),
            "Status": state.STATUS_WORDS.get(run["status"], run["status"]),
            "Place in queue": "training" if run["status"] == RunStatus.RUNNING else str(positions.get(run["id"], "")),
            "Data set": run["dataset"],
            "Model": run["model"],
            "Device": run["device"] or (waiting_device(training) if run["status"] == RunStatus.QUEUED else ""),
            "Machine": ", ".join(machines.get(run["id"], [])) or run["worker_host"] or "",
            "Progress": run["progress"],
            "Time left": time_left(run, waits),
        })
    return pd.DataFrame(rows)


@st.fragment(run_every="2s" if live else None)
def live_queue() -> None:
    machine = machine_status(trainyard_home())
    if machine["disk"]["warning"]:
        st.warning(machine["disk"]["warning"])
    workers = repo.alive_workers(STALE_SECONDS)
    cols = st.columns(4)
    cols[0].metric("Workers", len(workers), help="Background processes that train runs, on any machine.")
    cols[1].metric("CPU in use", f"{machine['cpu_percent']:.0f}%", help=f"{machine['cpus']} cores on this machine")
    cols[2].metric("Memory in use", f"{machine['memory_used_gb']:.1f} of {machine['memory_total_gb']:.0f} GB")
    cols[3].metric("Free disk", f"{machine['disk']['free_bytes'] / 1024**3:.0f} GB")
    for gpu in machine["gpus"]:
        st.progress(gpu["utilization"] / 100, text=f"GPU {gpu['index']} ({gpu['name']}): {gpu['utilization']:.0f}% busy, "
                    f"{gpu['memory_used_mb'] / 1024:.1f} of {gpu['memory_total_mb'] / 1024:.0f} GB memory")
    if not workers:
        st.warning("No worker is running, so queued runs wait. Start one with `python -m engine worker`"
                   + (" (the dashboard starts one by itself when it opens)." if state.starts_workers() else
                      " on a machine that can reach this database."))

    active = repo.list_runs(statuses=list(ACTIVE))
    recent = [r for r in repo.list_runs(limit=20, statuses=[*FINISHED, RunStatus.INTERRUPTED])]
    positions = repo.queue_positions()
    active.sort(key=lambda r: (r["status"] != RunStatus.RUNNING, positions.get(r["id"], 0), r["id"]))
    st.subheader(f"Training and waiting ({len(active)})")
    if active:
        waits = queue_waits(active, positions, sum(worker["slots"] for worker in workers)) if workers else {}
        st.dataframe(queue_table(active, positions, waits), hide_index=True, column_config={
            "Progress": st.column_config.ProgressColumn(min_value=0.0, max_value=1.0, format="percent")})
    else:
        st.caption("Nothing is training or waiting. Start a run from **New run**.")
    st.subheader("Recently ended")
    if recent:
        st.dataframe(queue_table(recent, {}, {}).drop(columns=["Place in queue", "Time left"]), hide_index=True,
                     column_config={"Progress": st.column_config.ProgressColumn(
                         min_value=0.0, max_value=1.0, format="percent")})
    else:
        st.caption("No run has ended yet.")

    chosen = st.session_state.get("queue-run")
    if chosen:
        st.subheader(f"Latest output of run {chosen}")
        st.code(log_tail(chosen) or "(nothing printed yet)", language=None)


live_queue()

st.divider()
runs = state.runs(limit=200)
if runs:
    labels = {r["id"]: f"Run {r['id']}{' — ' + r['name'] if r['name'] else ''}: "
                       f"{state.STATUS_WORDS.get(r['status'], r['status']).lower()}" for r in runs}
    picked = st.selectbox("Act on a run", list(labels), format_func=labels.get, key="queue-run")
    run = next(r for r in runs if r["id"] == picked)
    buttons = st.columns(4)
    if buttons[0].button("Cancel", key="queue-cancel", disabled=run["status"] not in ACTIVE):
        outcome = repo.request_cancel(picked)
        state.clear_caches()
        st.toast("Cancelled." if outcome == RunStatus.CANCELLED else "Stopping the run…")
    again_label = "Resume" if run["status"] == RunStatus.INTERRUPTED else "Queue again"
    if buttons[1].button(again_label, key="queue-again",
                         disabled=run["status"] in ACTIVE,
                         help="An interrupted run resumes from its last checkpoint; others start over."):
        st.toast(queue_again(picked))
        state.clear_caches()
        state.ensure_local_worker()
    if buttons[2].button("Run again with changes", key="queue-clone"):
        go("new_run", dataset=run["dataset_id"], clone=picked)
    if buttons[3].button("Open", key="queue-open"):
        go("run", run=picked)
