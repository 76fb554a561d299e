"""Training speed on 1, 2 and 4 processes (torch.distributed), and the share of a step spent communicating.

Two parts, on a fresh home:

1. Whole runs, as a user starts them: the digits sample (1,797 pictures, the default picture model) trained by a
   real worker with `training.processes` = 1, 2 and 4 (where the machine has the cores, or the GPUs), each process
   taking 64 pictures per step. Printed: the run's own samples per second (training steps only), the speed-up over
   one process and the scaling efficiency (speed-up / processes).
2. Communication per step: the same model in DDP on the same processes, timed with its gradients averaged over
   the processes and without (DDP's `no_sync`); the difference is the time per step spent communicating.

    .venv/bin/python bench/distributed_speed.py              # the CPU (gloo); the GPUs (NCCL) where there are 2+
    .venv/bin/python bench/distributed_speed.py --epochs 2

The last line reads `processes=<n> speedup=<x> efficiency=<e> communication_share=<s>` for the most processes.
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PER_PROCESS_BATCH = 64
TIMED_STEPS = 30


def run_speed(dataset: dict, processes: int, epochs: int, device: str) -> float:
    """Train the sample on `processes` processes with a real worker; give back the run's samples per second."""
    from db import repo
    from engine.config import RunConfig
    from engine.presets import starting_config, suggested_model

    raw = starting_config(dataset, suggested_model(dataset), "balanced", {"training": {
        "epochs": epochs, "batch_size": PER_PROCESS_BATCH, "processes": processes, "device": device,
        "early_stopping_patience": 0}})
    config = RunConfig.model_validate(raw)
    run = repo.create_run(dataset["id"], config.model.name, config.model_dump())
    subprocess.run([sys.executable, "-m", "engine", "worker", "--once"], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    done = repo.get_run(run["id"])
    if done["status"] != "completed":
        raise SystemExit(f"The run on {processes} processes {done['status']}: {done['error']}")
    return repo.run_summary(run["id"])["samples_per_second"]


def communication_probe(dataset_id: int, device_type: str, out: str) -> None:
    """One process of the communication probe (started by torch.distributed's launcher): time DDP steps with and
    without averaging the gradients; rank 0 writes the medians (seconds per step) to out."""
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    from db import repo
    from engine.data.prepare import prepare_dataset
    from engine.models.registry import build_model, data_options
    from engine.presets import starting_config, suggested_model
    from engine.config import RunConfig
    from engine.training.evaluate import task_loss

    dist.init_process_group("nccl" if device_type == "cuda" else "gloo", timeout=datetime.timedelta(seconds=300))
    rank = dist.get_rank()
    device = torch.device("cuda", int(os.environ["LOCAL_RANK"])) if device_type == "cuda" else torch.device("cpu")
    if device_type == "cuda":
        torch.cuda.set_device(device)
    torch.set_num_threads(max(1, int(os.environ.get("BENCH_THREADS", "1"))))
    dataset = repo.get_dataset(dataset_id)
    config = RunConfig.model_validate(starting_config(dataset, suggested_model(dataset), "balanced", {}))
    data = prepare_dataset(dataset, 0.15, 0.15, 0, **data_options(config.model.name))
    x, y = data.arrays["train"]
    layout = torch.channels_last if x.ndim == 4 else torch.contiguous_format  # as the training loop lays them out
    model = build_model(config.model, data.spec, seed=0).to(device, memory_format=layout)
    net = DistributedDataParallel(model, device_ids=[device.index] if device_type == "cuda" else None)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    x = torch.from_numpy(x[:PER_PROCESS_BATCH]).to(device).contiguous(memory_format=layout)
    y = torch.from_numpy(y[:PER_PROCESS_BATCH]).to(device)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        task_loss(data.preprocessing["task"], net(x), y, 0.0).backward()
        optimizer.step()

    def timed(sync: bool) -> float:
        times = []
        for _ in range(TIMED_STEPS):
            dist.barrier()
            start = time.perf_counter()
            if sync:
                step()
            else:
                with net.no_sync():
                    step()
            if device_type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    timed(True)  # warm up
    with_sync, without = timed(True), timed(False)
    if rank == 0:
        Path(out).write_text(f"{with_sync} {without}")
    dist.destroy_process_group()


def communication(dataset_id: int, processes: int, device_type: str, threads: int) -> tuple[float, float]:
    """Give back (seconds per step with the gradients averaged, without) on `processes` processes."""
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    from engine.jobs.launch import free_port

    with tempfile.NamedTemporaryFile(suffix=".txt") as out:
        os.environ["BENCH_THREADS"] = str(threads)
        settings = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=processes, rdzv_backend="static",
                                rdzv_endpoint=f"127.0.0.1:{free_port()}", rdzv_configs={"rank": 0},
                                max_restarts=0, run_id="bench-communication")
        elastic_launch(settings, entrypoint=sys.executable)(
            str(Path(__file__).resolve()), "--probe", str(dataset_id), device_type, out.name)
        with_sync, without = map(float, Path(out.name).read_text().split())
    return with_sync, without


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--probe", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe:
        return communication_probe(int(args.probe[0]), args.probe[1], args.probe[2])

    import torch

    gpus = torch.cuda.device_count()
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as home:
        os.environ["TRAINYARD_HOME"] = home
        os.environ.pop("DATABASE_URL", None)
        from db.session import migrate
        from engine.data.samples import add_sample

        migrate()
        dataset = add_sample("digits")
        machines = [("cpu", "cpu (gloo)", [n for n in (1, 2, 4) if n <= cores])]
        if gpus >= 2:
            machines.append(("cuda", "GPUs (NCCL)", [n for n in (1, 2, 4, 8) if n <= gpus]))
        print(f"digits sample, {PER_PROCESS_BATCH} pictures per process per step, {args.epochs} epochs; "
              f"{cores} cores, {gpus} GPUs")
        print(f"{'device':14} {'processes':>9} {'samples/s':>10} {'speed-up':>9} {'efficiency':>10} "
              f"{'step ms':>8} {'comm. ms':>9} {'comm. share':>11}")
        last = ""
        for device, label, counts in machines:
            base = None
            for processes in counts:
                speed = run_speed(dataset, processes, args.epochs, device)
                base = base or speed
                speedup = speed / base
                threads = max(1, cores // processes) if device == "cpu" else 1
                if processes > 1:
                    with_sync, without = communication(dataset["id"], processes, device, threads)
                    comm = max(0.0, with_sync - without)
                    comm_words = f"{with_sync * 1000:8.1f} {comm * 1000:9.1f} {comm / with_sync:11.2f}"
                else:
                    comm_words = f"{'':8} {'':9} {'':11}"
                    comm, with_sync = 0.0, 1.0
                print(f"{label:14} {processes:9d} {speed:10.0f} {speedup:9.2f} {speedup / processes:10.2f} "
                      f"{comm_words}", flush=True)
                last = (f"processes={processes} speedup={speedup:.2f} efficiency={speedup / processes:.2f} "
                        f"communication_share={comm / with_sync:.2f}")
        print(last)


if __name__ == "__main__":
    main()
