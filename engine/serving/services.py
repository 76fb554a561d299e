"""Model services running in the background, one per run: started by the Serving page or `serve --background`,
listed and stopped by both (`services list|stop`).

Each service is a `python -m engine serve` process of its own, in its own session, so it outlives the page or the
command that started it. What it is (process, address, token) is kept in services/<run>.json under the Trainyard
home, readable by its owner only; a service whose process has gone is forgotten when next listed.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from engine.errors import UserError
from engine.serving.guard import TOKEN_VARIABLE

ROOT = Path(__file__).resolve().parents[2]
START_SECONDS = 180  # the first start of a run exports its model (ONNX), which can take a minute or two


def services_folder() -> Path:
    from db.session import trainyard_home

    folder = trainyard_home() / "services"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def free_port(host: str = "127.0.0.1", first: int = 8000) -> int:
    """Give back the first port from `first` on that nothing listens to."""
    for port in range(first, first + 200):
        with socket.socket() as sock:
            try:
                sock.bind((host if host not in ("0.0.0.0", "::") else "", port))
                return port
            except OSError:
                continue
    raise UserError(f"No free port was found between {first} and {first + 199}.")


def _alive(pid: int) -> bool:
    import psutil

    try:
        process = psutil.Process(pid)
        return process.status() != psutil.STATUS_ZOMBIE and "serve" in process.cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def _url(host: str, port: int) -> str:
    return f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"


def start_service(run_id: int, options: Any) -> dict[str, Any]:
    """Start run_id's service with options (engine.serving.http.ServeOptions) in the background; give back its
    description once it answers /ready, or raise UserError with the reason it could not start."""
    import httpx

    from db import access

    actor = access.require("serve")
    options = options.checked()
    folder = services_folder()
    if any(service["run"] == run_id for service in running_services()):
        raise UserError(f"Run {run_id} is already being served. Stop that service first, or use it.")
    log = folder / f"{run_id}.log"
    command = [sys.executable, "-m", "engine", "serve", str(run_id), "--host", options.host, "--port",
               str(options.port), "--runtime", options.runtime, "--workers", str(options.workers), "--max-batch",
               str(options.max_batch), "--batch-wait-ms", str(options.batch_wait_ms), "--timeout",
               str(options.timeout_s)] + (["--quantized"] if options.quantized else []) + (
               ["--insecure"] if options.insecure else [])
    environment = {**os.environ, TOKEN_VARIABLE: options.token or ""}  # the token stays out of the process list
    with open(log, "wb") as output:
        process = subprocess.Popen(command, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT, env=environment,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    url = _url(options.host, options.port)
    service = {"run": run_id, "pid": process.pid, "url": url, "host": options.host, "port": options.port,
               "token": options.token, "workers": options.workers, "runtime": options.runtime,
               "quantized": options.quantized, "log": str(log),
               "started": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    deadline = time.monotonic() + START_SECONDS
    while True:
        if process.poll() is not None:
            said = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
            raise UserError(f"The service of run {run_id} stopped at once: "
                            f"{said[-1] if said else 'it gave no reason'}")
        try:
            if httpx.get(f"{url}/ready", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            raise UserError(f"The service of run {run_id} did not become ready within {START_SECONDS} s; its log "
                            f"is {log}.")
        time.sleep(0.3)
    path = folder / f"{run_id}.json"
    path.write_text(json.dumps(service))
    path.chmod(0o600)  # it holds the token
    access.audit("serve", f"run {run_id}", f"{url}{' with a token' if options.token else ''}", actor)
    return service


def running_services() -> list[dict[str, Any]]:
    """Give back the services started in the background that are still running, by run."""
    services = []
    for path in sorted(services_folder().glob("*.json")):
        try:
            service = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if _alive(service["pid"]):
            services.append(service)
        else:
            path.unlink(missing_ok=True)
    return sorted(services, key=lambda s: s["run"])


def stop_service(run_id: int) -> dict[str, Any]:
    """Stop run_id's background service: it answers the requests in flight, then ends (killed after 30 s)."""
    import psutil

    from db import access

    actor = access.require("serve")
    service = next((s for s in running_services() if s["run"] == run_id), None)
    if service is None:
        raise UserError(f"No service of run {run_id} is running. `python -m engine services` lists those that are.")
    access.audit("stop_service", f"run {run_id}", service.get("url"), actor)
    try:
        process = psutil.Process(service["pid"])
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except psutil.TimeoutExpired:
            process.kill()
    except psutil.NoSuchProcess:
        pass
    (services_folder() / f"{run_id}.json").unlink(missing_ok=True)
    return service


def service_figures(service: dict[str, Any]) -> dict[str, float] | None:
    """Give back the service's totals since it started (requests, errors, seconds spent answering /predict), read
    from its /metrics; None when it does not answer."""
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    headers = {"Authorization": f"Bearer {service['token']}"} if service.get("token") else {}
    try:
        text = httpx.get(f"{service['url']}/metrics", headers=headers, timeout=2).text
    except httpx.TransportError:
        return None
    figures = {"requests": 0.0, "errors": 0.0, "predictions": 0.0, "predict_seconds": 0.0}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "trainyard_requests_total" and sample.labels.get("path") not in ("/metrics", "/ready"):
                figures["requests"] += sample.value
            elif sample.name == "trainyard_errors_total":
                figures["errors"] += sample.value
            elif sample.name == "trainyard_request_seconds_count" and sample.labels.get("path") == "/predict":
                figures["predictions"] += sample.value
            elif sample.name == "trainyard_request_seconds_sum" and sample.labels.get("path") == "/predict":
                figures["predict_seconds"] += sample.value
    return figures
