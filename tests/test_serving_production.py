"""The model service in production: adaptive batching, the token, the Host check, body limits that do not trust
Content-Length, /ready and /metrics, several worker processes, a graceful stop, background services, and /docs
working with no internet in a real browser."""

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings

import httpx
import numpy as np
import pytest

from engine.errors import UserError
from tests.conftest import LOCAL, ROOT, cli, make_table, use_home
from tests.trained import table_dataset, train_run

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

TOKEN = "a-long-test-token"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        home = use_home(patch, tmp_path_factory.mktemp("home"))
        run = train_run(table_dataset(home, rows=300))
        yield {"home": home, "run": run}


def body(n: int = 1, seed: int = 3) -> dict:
    return {"rows": make_table(rows=n, seed=seed).drop(columns="label").to_dict(orient="records")}


def client_for(trained, **options) -> TestClient:
    from engine.serving.http import ServeOptions, build_app

    return TestClient(build_app(trained["run"]["id"], ServeOptions(**options)), base_url=LOCAL)


def test_batcher_answers_concurrent_requests_in_fewer_calls_each_with_its_own_rows():
    from engine.serving.batching import Batcher

    calls = []

    def model(x: np.ndarray) -> np.ndarray:
        calls.append(len(x))
        time.sleep(0.01)  # a model call takes time, so requests pile up meanwhile
        return x * 2

    async def main():
        batcher = Batcher(model, max_rows=64, max_wait=0.005)
        inputs = [np.full((1 + i % 3, 4), i, dtype=np.float32) for i in range(40)]
        outputs = await asyncio.gather(*(batcher.run(x) for x in inputs))
        await batcher.stop()
        return inputs, outputs

    inputs, outputs = asyncio.run(main())
    for x, y in zip(inputs, outputs):
        assert y.shape == x.shape and (y == 2 * x).all()
    assert sum(calls) == sum(len(x) for x in inputs) and len(calls) < 10, calls
    assert max(calls) <= 64 + 2


def test_batcher_gives_each_request_of_a_failed_call_the_error_and_goes_on():
    from engine.serving.batching import Batcher

    def model(x: np.ndarray) -> np.ndarray:
        if (x < 0).any():
            raise ValueError("negative")
        return x

    async def main():
        batcher = Batcher(model)
        with pytest.raises(ValueError):
            await batcher.run(-np.ones((1, 2), np.float32))
        return await batcher.run(np.ones((1, 2), np.float32))

    assert (asyncio.run(main()) == 1).all()


def test_rows_sent_as_json_are_encoded_as_a_frame_of_them_is():
    """The service's fast path for table rows (no pandas) gives the very matrix the training path gives."""
    import pandas as pd

    from engine.data.prepare_tables import fit_table_preprocessing, transform_features, transform_records

    frame = make_table(rows=200, seed=5)
    frame.loc[::7, "x1"] = None
    frame.loc[::5, "colour"] = None
    prep = fit_table_preprocessing(frame, "label", "classification", {"x1": "number", "x2": "number",
                                                                       "colour": "category"})
    records = frame.drop(columns="label").to_dict(orient="records")
    records = [{k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in r.items()} for r in records]
    records[0]["colour"], records[1]["colour"], records[2]["x2"] = "never seen", 3, None
    expected = transform_features(pd.DataFrame(records), prep)
    assert np.array_equal(transform_records(records, prep), expected)


@pytest.mark.slow
def test_token_host_ready_and_metrics(trained):
    client = client_for(trained, token=TOKEN)
    assert client.get("/health").status_code == 200 and client.get("/ready").json() == {"status": "ready"}
    assert client.get("/docs").status_code == 200  # the documentation is open; its operations need the token
    refused = client.post("/predict", json=body())
    assert refused.status_code == 401 and "needs a token" in refused.json()["error"]
    assert refused.headers["www-authenticate"] == "Bearer"
    wrong = client.post("/predict", json=body(), headers={"Authorization": "Bearer nope-nope-nope"})
    assert wrong.status_code == 401 and "not right" in wrong.json()["error"]
    assert client.get("/metrics").status_code == 401 and client.get("/model").status_code == 401
    good = {"Authorization": f"Bearer {TOKEN}"}
    assert client.post("/predict", json=body(3), headers=good).status_code == 200
    schema = client.get("/openapi.json").json()
    assert "HTTPBearer" in schema["components"]["securitySchemes"]  # /docs offers an Authorize button

    rebound = client.post("/predict", json=body(), headers=good | {"Host": "evil.example"})
    assert rebound.status_code == 421 and "127.0.0.1" in rebound.json()["error"]

    figures = client.get("/metrics", headers=good).text
    assert 'trainyard_requests_total{path="/predict",status="200"} 1.0' in figures
    assert 'trainyard_errors_total{status="401"}' in figures and "trainyard_batch_inputs_bucket" in figures
    assert 'trainyard_request_seconds_count{path="/predict"}' in figures


@pytest.mark.slow
def test_a_request_the_model_cannot_answer_in_time_gets_a_504_and_the_service_goes_on():
    from engine.serving.http import ServeOptions, create_app
    from engine.serving.runtime import Predictor

    prep = {"kind": "text", "task": "classification", "text_column": "text", "classes": ["no", "yes"],
            "vocabulary": ["slow"], "max_length": 4}

    def model(tokens: np.ndarray) -> np.ndarray:
        if (tokens == 2).any():  # the word "slow" takes a second to answer
            time.sleep(1.0)
        return np.zeros((len(tokens), 2), np.float32)

    client = TestClient(create_app(Predictor(prep, model, "test"), {"run": 1}, options=ServeOptions(timeout_s=0.3)),
                        base_url=LOCAL)
    late = client.post("/predict", json={"texts": ["slow"]})
    assert late.status_code == 504 and "longer than 0.3 s" in late.json()["error"]
    time.sleep(1.0)  # the model answers one call at a time: the slow call ends, then others are answered
    assert client.post("/predict", json={"texts": ["quick"]}).status_code == 200


@pytest.mark.slow
def test_a_chunked_body_is_stopped_at_the_limit_without_being_read_whole(trained):
    client = client_for(trained)
    sent = []

    def endless():  # no Content-Length: the service must count what arrives
        for _ in range(200):
            sent.append(1)
            yield b" " * 2**20

    answer = client.post("/predict", content=endless(), headers={"content-type": "application/json"})
    assert answer.status_code == 413 and "larger than 32 MB" in answer.json()["error"]
    assert client.post("/predict", json=body()).status_code == 200  # and it keeps answering others


@pytest.mark.slow
def test_options_refuse_an_open_service_without_a_token_and_too_many_workers(monkeypatch):
    from engine.serving.http import ServeOptions

    monkeypatch.delenv("TRAINYARD_SERVE_TOKEN", raising=False)
    with pytest.raises(UserError, match="anyone on the network"):
        ServeOptions(host="0.0.0.0").checked()
    assert ServeOptions(host="0.0.0.0", insecure=True).checked().token is None
    monkeypatch.setenv("TRAINYARD_SERVE_TOKEN", TOKEN)
    assert ServeOptions(host="0.0.0.0").checked().token == TOKEN
    with pytest.raises(UserError, match="processor cores"):
        ServeOptions(workers=(os.cpu_count() or 1) + 1).checked()
    result = cli("serve", "1", "--host", "0.0.0.0", env={"TRAINYARD_SERVE_TOKEN": ""})
    assert result.returncode != 0 and "--insecure" in result.stderr and "Traceback" not in result.stderr


def wait_ready(url: str, process: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert process.poll() is None and time.monotonic() < deadline, process.stdout.read().decode()[-2000:]
        time.sleep(0.3)


@pytest.mark.slow
def test_two_worker_processes_answer_16_clients_with_a_token_and_stop_gracefully(trained):
    from engine.serving.services import free_port

    port = free_port(first=18000)
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "engine", "serve", str(trained["run"]["id"]), "--port", str(port),
                               "--workers", "2"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              env={**os.environ, "TRAINYARD_SERVE_TOKEN": TOKEN})
    try:
        wait_ready(url, server)
        statuses, lock = [], threading.Lock()

        def client(number: int) -> None:
            with httpx.Client(base_url=url, timeout=30) as session:
                for i in range(10):
                    headers = {"Authorization": f"Bearer {TOKEN}"} if (number + i) % 2 else {}
                    answer = session.post("/predict", json=body(2, seed=number), headers=headers)
                    with lock:
                        statuses.append((bool(headers), answer.status_code))

        threads = [threading.Thread(target=client, args=(n,)) for n in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(statuses) == 160
        assert all(code == 200 for with_token, code in statuses if with_token)
        assert all(code == 401 for with_token, code in statuses if not with_token)  # none answered without it
        figures = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text
        assert 'trainyard_requests_total{path="/predict",status="200"} 80.0' in figures  # both workers added up

        # A stop (SIGTERM) answers the requests already begun: this one's last byte comes after the stop.
        payload = json.dumps(body(1000)).encode()
        with socket.create_connection(("127.0.0.1", port), timeout=30) as begun:
            begun.sendall(f"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n"
                          f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n".encode()
                          + payload[:-1])
            time.sleep(1.0)  # time for a worker to take the connection and read the request's head
            server.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            begun.sendall(payload[-1:])
            answer = b"".join(iter(lambda: begun.recv(1 << 16), b""))  # until the worker closes the connection
        head, _, content = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head
        assert len(json.loads(content)["predictions"]) == 1000
        assert server.wait(timeout=30) == 0
    finally:
        if server.poll() is None:
            server.kill()


@pytest.mark.slow
def test_background_service_from_the_command_line(trained):
    run_id = str(trained["run"]["id"])
    env = {"TRAINYARD_HOME": str(trained["home"])}
    started = cli("serve", run_id, "--background", "--port", "0", "--json", env=env)
    assert started.returncode != 0 and "port" in started.stderr  # port 0 is refused plainly
    started = cli("serve", run_id, "--background", "--port", str(_port()), "--token", TOKEN, "--json", env=env)
    assert started.returncode == 0, started.stderr
    service = json.loads(started.stdout)
    try:
        assert httpx.post(f"{service['url']}/predict", json=body()).status_code == 401
        assert httpx.post(f"{service['url']}/predict", json=body(),
                          headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
        listed = json.loads(cli("services", "--json", env=env).stdout)
        assert [s["run"] for s in listed] == [int(run_id)]
        again = cli("serve", run_id, "--background", "--port", str(_port()), env=env)
        assert again.returncode != 0 and "already being served" in again.stderr
    finally:
        stopped = cli("services", "stop", run_id, env=env)
    assert stopped.returncode == 0, stopped.stderr
    assert json.loads(cli("services", "--json", env=env).stdout) == []
    missing = cli("services", "stop", run_id, env=env)
    assert missing.returncode != 0 and "No service of run" in missing.stderr


def _port() -> int:
    from engine.serving.services import free_port

    return free_port(first=18100)


@pytest.mark.browser
@pytest.mark.slow
def test_docs_work_offline_and_send_the_filled_in_example(trained):
    from playwright.sync_api import sync_playwright

    from tests.browser import CHROMIUM_ARGS, chromium_or_skip
    from engine.serving.services import free_port

    executable = chromium_or_skip()
    port = free_port(first=18200)
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "engine", "serve", str(trained["run"]["id"]), "--port",
                               str(port)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              env=dict(os.environ))
    try:
        wait_ready(url, server)
        elsewhere = []
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
            page = browser.new_page()

            def only_local(route):  # the network is off: anything but the service itself fails
                if route.request.url.startswith(url):
                    route.continue_()
                else:  # ReDoc's footer links its maker's logo: a missing picture, nothing the page needs
                    if route.request.resource_type != "image":
                        elsewhere.append(route.request.url)
                    route.abort()

            page.route("**/*", only_local)
            page.goto(f"{url}/docs")
            page.get_by_text("/predict").first.wait_for(timeout=30_000)
            assert page.get_by_text("/explain").count() and page.get_by_text("/metrics").count()
            page.locator("#operations-default-predict_predict_post").click()
            page.get_by_role("button", name="Execute").click()
            page.locator(".live-responses-table tbody .response-col_status").first.wait_for(timeout=30_000)
            assert "200" in page.locator(".live-responses-table tbody .response-col_status").first.inner_text()
            page.goto(f"{url}/redoc")
            page.get_by_text("Predict for one or more inputs").first.wait_for(timeout=30_000)
            browser.close()
        assert elsewhere == []
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.slow
def test_serving_page_starts_shows_and_stops_a_service(trained):
    from streamlit.testing.v1 import AppTest

    from tests.conftest import APP

    at = AppTest.from_file(APP, default_timeout=240)
    at.run()
    at.query_params["run"] = str(trained["run"]["id"])
    at.switch_page("views/serving.py").run()
    assert not at.exception, at.exception
    assert any("No service is running" in i.value for i in at.info)
    at.checkbox[1].check()  # a secret key, on this computer only
    next(b for b in at.button if b.label == "Start the service").click().run()
    assert not at.exception, at.exception
    try:
        from engine.serving.services import running_services

        service = running_services()[0]
        assert service["host"] == "127.0.0.1" and service["token"]
        codes = [c.value for c in at.code]
        assert service["token"] in codes
        curl = next(c for c in codes if c.startswith("curl -X POST"))
        assert f"Authorization: Bearer {service['token']}" in curl and '"rows"' in curl
        assert httpx.post(f"{service['url']}/predict", json=body(),
                          headers={"Authorization": f"Bearer {service['token']}"}).status_code == 200
        assert [m.label for m in at.metric][:2] == ["Requests per second", "Time to answer"]
        next(b for b in at.button if b.label == "Stop this service").click().run()
        assert not at.exception, at.exception
    finally:
        from engine.serving.services import running_services, stop_service

        for left in running_services():
            stop_service(left["run"])
    assert any("No service is running" in i.value for i in at.info)
