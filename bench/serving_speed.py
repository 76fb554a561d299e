"""Export sizes per kind of data, and requests per second of the HTTP service on this machine.

Trains a small model per kind of data (one epoch: sizes and speed do not depend on training time), exports it
(ONNX, the .pt2 program and the ZIP bundle), measures ONNX Runtime alone answering the encoded inputs in a loop
(one at a time and in batches), then starts `python -m engine serve` on 127.0.0.1 with 1 and 2 processes and
sends it requests from this process: one client, 16 clients at once with one input each, and 16 clients with a
batch each. The last line compares the service with 16 clients to bare ONNX Runtime on the same batches.

    .venv/bin/python bench/serving_speed.py                           # the table model; about a minute
    .venv/bin/python bench/serving_speed.py --kinds tabular image text ratings
    .venv/bin/python bench/serving_speed.py --requests 1000 --workers 1

Only 127.0.0.1 is contacted. Figures are printed; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SAMPLES = {"tabular": ("iris", "mlp"), "text": ("reviews", "bag_of_embeddings"),
           "ratings": ("films", "matrix_factorization"), "image": ("digits", "resnet_small")}
# Inputs per request: one, and a batch (for ratings each input is a user, scored against every item).
BATCH_SIZES = {"tabular": (1, 64), "text": (1, 64), "ratings": (1, 10), "image": (1, 16)}


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
             "pt2": folder / "export" / "model.pt2", "bundle (zip)": Path(bundle["path"])}
    return {name: path.stat().st_size / 1024 for name, path in sizes.items()} | {
        "export s": seconds, "onnx diff": bundle["check"]["onnx"]["max_abs_difference"]}


def body_for(run_id: int, rows: int) -> dict:
    """Give back a /predict body of `rows` inputs for the run's kind of data."""
    from engine.serving.runtime import read_preprocessing
    from engine.serving.shapes import example_request

    return example_request(read_preprocessing(run_id), rows)


class Server:
    def __init__(self, run_id: int, runtime: str = "onnx", workers: int = 1):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "engine", "serve", str(run_id), "--port", str(self.port), "--runtime", runtime,
             "--workers", str(workers)],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ))

    def __enter__(self) -> "Server":
        import httpx

        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/ready", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError("the service did not start")

    def __exit__(self, *exc) -> None:
        self.process.terminate()
        self.process.wait(timeout=60)


def measure(port: int, body: dict, requests: int, clients: int) -> dict[str, float]:
    """Send `requests` POST /predict from `clients` keep-alive connections at once; give back figures.

    The client is a few lines of asyncio over raw sockets, the request bytes made once: on 2 cores the load
    generator shares the processor with the service, and a heavier HTTP client would measure mostly itself.
    """
    import asyncio

    payload = json.dumps(body).encode()
    request = (f"POST /predict HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(payload)}\r\n\r\n").encode() + payload
    latencies: list[float] = []
    failures = 0

    async def client(count: int) -> None:
        nonlocal failures
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(count):
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length")))
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            failures += not head.startswith(b"HTTP/1.1 200")
        writer.close()

    async def main() -> float:
        await client(20)  # warm up
        latencies.clear()
        started = time.perf_counter()
        await asyncio.gather(*(client(requests // clients) for _ in range(clients)))
        return time.perf_counter() - started

    seconds = asyncio.run(main())
    latencies.sort()
    return {"requests/s": len(latencies) / seconds, "p50 ms": 1000 * statistics.median(latencies),
            "p99 ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))], "failed": failures}


def bare_onnx_runtime(run_id: int, rows: int, seconds: float = 3.0) -> float:
    """Give back inputs per second of ONNX Runtime alone answering batches of `rows` encoded inputs in a loop, with
    the threads the service gives its model."""
    from engine.serving.http import ServeOptions
    from engine.serving.inputs import inputs_for
    from engine.serving.runtime import onnx_predictor

    predictor = onnx_predictor(run_id, ServeOptions().model_threads())
    prep = predictor.preprocessing
    x = predictor.encode(inputs_for(prep).example(prep))
    x = np.repeat(x, max(1, rows // len(x)), axis=0)[:rows] if len(x) < rows else x
    for _ in range(20):
        predictor.model(x)
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        predictor.model(x)
        done += 1
    return done * len(x) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kinds", nargs="+", default=["tabular"], choices=list(SAMPLES))
    parser.add_argument("--requests", type=int, default=3000, help="requests per measurement (at most 20000)")
    parser.add_argument("--workers", nargs="+", type=int, default=[1, 2], help="service processes to measure")
    args = parser.parse_args()
    requests = max(50, min(args.requests, 20000))

    with tempfile.TemporaryDirectory() as home:
        os.environ["TRAINYARD_HOME"] = home
        os.environ.pop("DATABASE_URL", None)
        from db.session import migrate

        migrate()
        print(f"machine: {os.cpu_count()} CPU cores; {requests} requests per measurement, all to 127.0.0.1; the "
              "load generator shares those cores")
        print("\nexport sizes (KB) and seconds to export and check everything")
        runs = {}
        for kind in args.kinds:
            sample, model = SAMPLES[kind]
            runs[kind] = train(sample, model)
            sizes = export_sizes(runs[kind])
            print(f"  {kind:8} {model:21} " + "  ".join(
                f"{name} {value:.1e}" if name == "onnx diff" else f"{name} {value:,.1f}"
                for name, value in sizes.items()))

        ratios = {}
        for kind, run_id in runs.items():
            batch = BATCH_SIZES[kind][1]
            bare = {rows: bare_onnx_runtime(run_id, rows) for rows in (1, batch)}
            print(f"\n{kind}: bare ONNX Runtime in a loop: {bare[1]:,.0f} inputs/s one at a time, "
                  f"{bare[batch]:,.0f} inputs/s in batches of {batch}")
            for workers in args.workers:
                with Server(run_id, workers=workers) as server:
                    for rows, clients in ((1, 1), (1, 16), (batch, 16)):
                        count = requests if rows == 1 else max(100, requests // 10)
                        result = measure(server.port, body_for(run_id, rows), count, clients)
                        inputs = result["requests/s"] * rows
                        print(f"  service, {workers} process{'es' if workers > 1 else '  '}, {rows:3} per request, "
                              f"{clients:2} client(s): {result['requests/s']:7,.0f} requests/s "
                              f"({inputs:9,.0f} inputs/s, {inputs / bare[batch]:.2f} of bare batches)  "
                              f"p50 {result['p50 ms']:6.1f} ms  p99 {result['p99 ms']:6.1f} ms"
                              + (f"  {result['failed']} failed" if result["failed"] else ""))
                        if clients == 16 and rows == batch:
                            ratios[kind] = max(ratios.get(kind, 0.0), inputs / bare[batch])
        first = args.kinds[0]
        print(f"service_vs_bare_ort_16_clients={ratios[first]:.3f}   ({first}: the best service's inputs/s with 16 "
              f"clients sending {BATCH_SIZES[first][1]} per request, over bare ONNX Runtime's in batches of as many)")


if __name__ == "__main__":
    main()
