"""Export sizes per kind of data, and requests per second of the HTTP service on this machine.

Trains a small model on each sample data set (one epoch: sizes do not depend on training time), exports it
(ONNX, TorchScript and the ZIP bundle), then starts `python -m engine serve` on 127.0.0.1 and sends it a
bounded number of requests from this process: one client after another, then several at once, with one
row and with 100 rows per request, answered by ONNX Runtime and by PyTorch.

    .venv/bin/python bench/serving_speed.py                  # every kind; a few minutes on 2 CPU cores
    .venv/bin/python bench/serving_speed.py --kinds tabular  # the table only
    .venv/bin/python bench/serving_speed.py --requests 500   # fewer requests per measurement

Only 127.0.0.1 is contacted. Figures are printed; nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SAMPLES = {"tabular": ("iris", "mlp"), "text": ("reviews", "bag_of_embeddings"),
           "ratings": ("films", "matrix_factorization"), "image": ("digits", "resnet_small")}
# Inputs per request: one, and a batch (for ratings each input is a user, scored against every item).
BATCH_SIZES = {"tabular": (1, 100), "text": (1, 100), "ratings": (1, 10), "image": (1, 16)}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def train(sample: str, model: str) -> int:
    from db import repo
    from engine.config import RunConfig
    from engine.data.samples import add_sample

    dataset = add_sample(sample)
    config = RunConfig.model_validate({"model": {"name": model}, "training": {"epochs": 1, "batch_size": 64}})
    run = repo.create_run(dataset["id"], model, config.model_dump())
    subprocess.run([sys.executable, "-m", "engine.jobs.runner", str(run["id"])], cwd=ROOT, check=True,
                   capture_output=True)
    assert repo.get_run(run["id"])["status"] == "completed", repo.get_run(run["id"])["error"]
    return run["id"]


def export_sizes(run_id: int) -> dict[str, float]:
    """Give back the size in KB of the checkpoint and of each export, and seconds to make them all."""
    from engine.serving.export import export_run
    from engine.serving.runtime import run_folder

    started = time.perf_counter()
    bundle = export_run(run_id, "bundle")
    seconds = time.perf_counter() - started
    folder = run_folder(run_id)
    sizes = {"model.pt": folder / "model.pt", "onnx": folder / "export" / "model.onnx",
             "torchscript": folder / "export" / "model.torchscript.pt", "bundle (zip)": Path(bundle["path"])}
    return {name: path.stat().st_size / 1024 for name, path in sizes.items()} | {
        "export s": seconds, "onnx diff": bundle["check"]["onnx"]["max_abs_difference"]}


def body_for(run_id: int, rows: int) -> dict:
    """Give back a /predict body of `rows` inputs for the run's kind of data."""
    import base64

    from engine.serving.inputs import inputs_for
    from engine.serving.runtime import read_preprocessing

    prep = read_preprocessing(run_id)
    example = inputs_for(prep).example(prep)
    return {"tabular": lambda: {"rows": example.to_dict(orient="records") * rows},
            "text": lambda: {"texts": ["Works well, great value, would buy again."] * rows},
            "ratings": lambda: {"users": list(example) * rows, "top": 10},
            "image": lambda: {"images": [base64.b64encode(example[0]).decode()] * rows}}[prep["kind"]]()


class Server:
    def __init__(self, run_id: int, runtime: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "engine", "serve", str(run_id), "--port", str(self.port), "--runtime", runtime],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ))

    def __enter__(self) -> "Server":
        import httpx

        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.2)
        raise RuntimeError("the service did not start")

    def __exit__(self, *exc) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def measure(url: str, body: dict, requests: int, clients: int) -> dict[str, float]:
    """Send `requests` POSTs from `clients` threads (one keep-alive connection each); give back figures."""
    import httpx

    latencies: list[float] = []
    failures = 0
    lock = threading.Lock()

    def client(count: int) -> None:
        nonlocal failures
        with httpx.Client(base_url=url, timeout=30) as session:
            for _ in range(count):
                started = time.perf_counter()
                answer = session.post("/predict", json=body)
                elapsed = time.perf_counter() - started
                with lock:
                    latencies.append(elapsed)
                    failures += answer.status_code != 200

    with httpx.Client(base_url=url, timeout=30) as warm:
        for _ in range(20):
            warm.post("/predict", json=body)
    threads = [threading.Thread(target=client, args=(requests // clients,)) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    latencies.sort()
    return {"requests/s": len(latencies) / seconds, "p50 ms": 1000 * statistics.median(latencies),
            "p95 ms": 1000 * latencies[int(0.95 * (len(latencies) - 1))], "failed": failures}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kinds", nargs="+", default=list(SAMPLES), choices=list(SAMPLES))
    parser.add_argument("--requests", type=int, default=1000, help="requests per measurement (at most 5000)")
    parser.add_argument("--clients", type=int, default=4, help="clients at once in the concurrent measurement")
    args = parser.parse_args()
    requests = max(10, min(args.requests, 5000))

    with tempfile.TemporaryDirectory() as home:
        os.environ["TRAINYARD_HOME"] = home
        os.environ.pop("DATABASE_URL", None)
        from db.session import migrate

        migrate()
        print(f"machine: {os.cpu_count()} CPU cores; {requests} requests per measurement, all to 127.0.0.1")
        print("\nexport sizes (KB) and seconds to export and check everything")
        runs = {}
        for kind in args.kinds:
            sample, model = SAMPLES[kind]
            runs[kind] = train(sample, model)
            sizes = export_sizes(runs[kind])
            print(f"  {kind:8} {model:21} " + "  ".join(
                f"{name} {value:.1e}" if name == "onnx diff" else f"{name} {value:,.1f}"
                for name, value in sizes.items()))

        print("\nHTTP service (python -m engine serve): requests per second and latency")
        for kind, run_id in runs.items():
            for runtime in ("onnx", "torch"):
                with Server(run_id, runtime) as server:
                    for rows in BATCH_SIZES[kind]:
                        body = body_for(run_id, rows)
                        for clients in (1, args.clients):
                            # Large requests take longer: fewer of them keep each measurement to seconds.
                            result = measure(server.url, body, requests if rows == 1 else max(40, requests // 5),
                                             clients)
                            print(f"  {kind:8} {runtime:5} {rows:3} per request, {clients} client(s): "
                                  f"{result['requests/s']:7,.0f} requests/s ({result['requests/s'] * rows:9,.0f} "
                                  f"inputs/s)  p50 {result['p50 ms']:6.1f} ms  p95 {result['p95 ms']:6.1f} ms"
                                  + (f"  {result['failed']} failed" if result["failed"] else ""))


if __name__ == "__main__":
    main()
