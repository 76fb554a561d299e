"""The HTTP service of one trained run (FastAPI): POST /predict and /explain, GET /model, /health, /ready and
/metrics, with its documentation at /docs and /redoc served from local files (no internet needed).

Requests are typed per kind of data from the fitted preprocessing (engine.serving.shapes), so /docs lists a
table's own columns with a filled-in example. Concurrent requests share calls of the model (adaptive batching,
engine.serving.batching); the Host header, the token and the body size are checked before a body is read
(engine.serving.guard). A bad request gets a 4xx answer whose "error" says in plain words what is wrong.
"""

# No `from __future__ import annotations` here: FastAPI reads the request and answer types of /predict from
# real annotations, and these types are made at run time from the model's preprocessing.

import asyncio
import contextlib
import os
import sys
from typing import Any, Callable, Optional

import pandas as pd
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.security import HTTPBearer
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, Field, create_model
from starlette.exceptions import HTTPException

from engine.errors import UserError
from engine.serving.batching import Batcher
from engine.serving.guard import LOOPBACK_HOSTS, TOKEN_VARIABLE, Figures, Guard, is_loopback
from engine.serving.runtime import MAX_INPUTS, Predictor
from engine.serving.shapes import ANSWERS, REQUESTS, explain, too_many

RUN_VARIABLE, OPTIONS_VARIABLE = "TRAINYARD_SERVE_RUN", "TRAINYARD_SERVE_OPTIONS"  # for --workers' processes


class ServeOptions(BaseModel):
    """How a service listens and answers; the command line's serve options, the Serving page's form."""

    host: str = Field("127.0.0.1", description="the address to listen on; 127.0.0.1 answers this machine only")
    port: int = Field(8000, ge=1, le=65535)
    runtime: str = Field("onnx", pattern="^(onnx|torch)$")
    quantized: bool = False
    token: Optional[str] = Field(None, min_length=8, description="a token every request must carry as "
                                                                  "'Authorization: Bearer <token>'")
    insecure: bool = Field(False, description="listen beyond this machine without a token")
    workers: int = Field(1, ge=1, le=64, description="processes answering requests, each with the whole model")
    max_batch: int = Field(64, ge=1, le=MAX_INPUTS, description="most inputs the model answers in one call")
    batch_wait_ms: float = Field(2.0, ge=0, le=1000, description="how long a call waits for more requests, once "
                                                                 "requests arrive together")
    timeout_s: float = Field(30.0, gt=0, le=3600, description="longest a request may take before it is answered "
                                                              "504")
    max_body_mb: int = Field(32, ge=1, le=1024, description="largest request body, in MB")

    def checked(self) -> "ServeOptions":
        """Give back these options with the token from TRAINYARD_SERVE_TOKEN when none is given; raise UserError
        for a service that would answer anyone on the network."""
        options = self if self.token else self.model_copy(update={"token": os.environ.get(TOKEN_VARIABLE) or None})
        if options.token is not None and len(options.token) < 8:
            raise UserError("The token is too short: use at least 8 characters (a random one is best).")
        if not is_loopback(options.host) and not options.token and not options.insecure:
            raise UserError(f"Listening on {options.host} would let anyone on the network use the model. Give a "
                            f"token (--token, or {TOKEN_VARIABLE}) that every request must carry, or add --insecure "
                            "if the network is yours alone.")
        cores = os.cpu_count() or 1
        if options.workers > cores:
            raise UserError(f"{options.workers} worker processes were asked for, but this machine has {cores} "
                            f"processor cores; use at most {cores}.")
        return options

    def model_threads(self) -> int:
        """Processor threads for each worker's model, so the workers together use each core once."""
        return max(1, min(4, (os.cpu_count() or 1) // self.workers))


def create_app(predictor: Predictor, about: dict[str, Any], explainer: Optional[Callable[..., Any]] = None,
               options: Optional[ServeOptions] = None) -> FastAPI:
    """Give back the service answering with predictor; about describes the model (run, model, data set). With an
    explainer (explainer_for), POST /explain takes the same requests as /predict and says why each answer."""
    options = options or ServeOptions()
    prep = predictor.preprocessing
    shape = REQUESTS[prep["kind"]](prep)
    answer = ANSWERS[prep["task"]]
    predictions = create_model("Predictions", run=(int, ...), predictions=(list[answer], ...))
    run_id = about.get("run")
    figures = Figures()
    batcher = Batcher(predictor.model, options.max_batch, options.batch_wait_ms / 1000, on_batch=figures.batch)
    state = {"ready": False}
    predictor.predict(predictor.inputs.example(prep))  # the first call is the slow one: made before answering
    state["ready"] = True

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        state["ready"] = False  # shutting down: the requests in flight have been answered
        await batcher.stop()

    app = FastAPIOffline(
        title=f"Trainyard run {run_id}", version="1", lifespan=lifespan,
        swagger_ui_parameters={"tryItOutEnabled": True, "displayRequestDuration": True},
        description=f"Predictions from the model of Trainyard run {run_id} ({about.get('model')} trained on "
                    f"'{about.get('dataset')}'). POST inputs to /predict; GET /model describes the model."
                    + (" Every request except /health and /ready carries the service's token: press Authorize."
                       if options.token else ""))
    allowed = LOOPBACK_HOSTS if is_loopback(options.host) else None
    app.add_middleware(Guard, max_body=options.max_body_mb * 2**20, figures=figures, token=options.token,
                       allowed_hosts=allowed)
    # Declared so /docs offers an Authorize button; Guard checks the token before a request gets here.
    locked = [Depends(HTTPBearer(auto_error=False, description="the service's token"))] if options.token else []
    errors = {400: {"description": "inputs the model cannot read, with the reason in 'error'"},
              401: {"description": "no token, or a wrong one (when the service has one)"},
              413: {"description": "too large a body, or too many inputs in one request"},
              422: {"description": "a request of the wrong form, with the reason in 'error'"},
              504: {"description": "the model took longer than the service's time limit"}}

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError):
        message, problems = explain(error)
        return JSONResponse(status_code=413 if too_many(error) else 422,
                            content={"error": message, "problems": problems})

    @app.exception_handler(HTTPException)
    async def http_problem(request: Request, error: HTTPException):
        words = {404: f"There is nothing at {request.url.path}. The service answers POST /predict; see /docs.",
                 405: f"{request.method} is not allowed on {request.url.path}; see /docs for what is."}
        return JSONResponse(status_code=error.status_code, content={"error": words.get(error.status_code,
                                                                                      str(error.detail))})

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception):
        return JSONResponse(status_code=500, content={
            "error": f"The model could not answer because of an unexpected problem ({type(error).__name__})."})

    @app.get("/", include_in_schema=False)
    def home():
        return RedirectResponse("/docs")

    @app.get("/health", summary="Whether the service is up (no token needed)")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ready", summary="Whether the model is loaded and answering (503 while starting or stopping)")
    async def ready():
        if not state["ready"]:
            return JSONResponse(status_code=503, content={"status": "not ready"})
        return {"status": "ready"}

    @app.get("/model", summary="What the model is and what it expects", dependencies=locked)
    async def model() -> dict[str, Any]:
        return about

    @app.get("/metrics", summary="Requests, answer times, batch sizes and errors, in Prometheus's text format",
             dependencies=locked, response_class=Response)
    async def metrics():
        return Response(figures.text(), media_type="text/plain; version=0.0.4; charset=utf-8")

    async def predict(request):
        try:
            raw, names, chosen = shape.read(request)
            x = predictor.encode(raw)
            outputs = await asyncio.wait_for(batcher.run(x), options.timeout_s)
            answers = predictor.respond(outputs, raw, x, names, **chosen)
        except UserError as error:
            return JSONResponse(status_code=400, content={"error": str(error)})
        except TimeoutError:
            return JSONResponse(status_code=504, content={
                "error": f"The model took longer than {options.timeout_s:g} s to answer. Send fewer inputs at a "
                         "time, or try again when the service is less busy."})
        # The answers are plain dicts made to the documented shape: sent as they are, without a second check.
        return JSONResponse({"run": run_id, "predictions": answers})

    predict.__annotations__ = {"request": shape.model}
    app.add_api_route("/predict", predict, methods=["POST"], response_model=predictions, dependencies=locked,
                      summary="Predict for one or more inputs", responses=errors)
    if explainer is not None:
        def explain_answers(request):
            try:
                raw, names, chosen = shape.read(request)
                if isinstance(raw, list) and raw and isinstance(raw[0], dict):  # table rows: explained as a frame
                    raw = pd.DataFrame(raw)
                explanations = explainer(raw, names, **chosen)
            except UserError as error:
                return JSONResponse(status_code=400, content={"error": str(error)})
            return JSONResponse({"run": run_id, "explanations": explanations})

        explain_answers.__annotations__ = {"request": shape.model}
        app.add_api_route("/explain", explain_answers, methods=["POST"], dependencies=locked, responses=errors,
                          summary="Predict and say why: what in each input pushed the answer (an approximation)",
                          description="The same request as /predict; each answer also has 'pushes' (columns or "
                                      "words with their credit), 'heatmap' for pictures, 'because' for "
                                      "recommendations, and a 'sentence' in plain words.")
    return app


def explainer_for(run_id: int) -> Callable[..., Any]:
    """Give back a function (raw inputs, names, options) → explanations of run_id's answers; it loads PyTorch and
    the model on its first call, so a service that is never asked why starts as fast as before."""
    loaded: dict[str, Any] = {}

    def explain_answers(raw: Any, names: list[str], **options: Any) -> list[dict[str, Any]]:
        from engine.explain.attributions import explain_inputs
        from engine.serving.predict import load_trained

        if "trained" not in loaded:
            loaded["trained"] = load_trained(run_id)
        return explain_inputs(loaded["trained"], raw, names, **options)

    return explain_answers


def describe(predictor: Predictor, run: dict[str, Any]) -> dict[str, Any]:
    """Give back what GET /model answers: the run, the model, its inputs and its outputs."""
    prep = predictor.preprocessing
    about: dict[str, Any] = {"run": run["id"], "model": run["model"], "dataset": run["dataset"],
                             "kind": prep["kind"], "task": prep["task"], "runtime": predictor.runtime}
    if prep["task"] == "classification":
        about["labels"] = list(prep["classes"])
    if prep["kind"] == "tabular":
        from engine.data.prepare_tables import input_columns

        categories = {column["name"]: column["categories"] for column in prep["categorical"]}
        about["inputs"] = [{"column": name, "type": kind} | ({"categories": categories[name]} if kind == "category"
                                                              else {})
                           for name, kind, _ in input_columns(prep)]
    return about


def build_app(run_id: int, options: ServeOptions, predictor: Optional[Predictor] = None) -> FastAPI:
    """Give back the service of run_id as `serve` runs it."""
    from db import repo

    predictor = predictor or load_predictor(run_id, options.runtime, options.quantized, options.model_threads())
    return create_app(predictor, describe(predictor, repo.get_run(run_id)), explainer=explainer_for(run_id),
                      options=options)


def app_from_environment() -> FastAPI:
    """Give back the service for one of `serve --workers N`'s processes (uvicorn calls it in each of them)."""
    return build_app(int(os.environ[RUN_VARIABLE]), ServeOptions.model_validate_json(os.environ[OPTIONS_VARIABLE]))


def serve(run_id: int, options: Optional[ServeOptions] = None) -> None:
    """Answer HTTP requests for run_id until stopped (Ctrl+C or SIGTERM, after answering the requests in flight)."""
    import tempfile

    import uvicorn

    options = (options or ServeOptions()).checked()
    predictor = load_predictor(run_id, options.runtime, options.quantized, options.model_threads())  # exports first
    where = f"http://{'127.0.0.1' if options.host in ('0.0.0.0', '::') else options.host}:{options.port}"
    print(f"Serving run {run_id} at {where} ({predictor.runtime}, {options.workers} process"
          f"{'es' if options.workers > 1 else ''}); the API is described at {where}/docs"
          f"{'; every request needs the token' if options.token else ''}. Stop with Ctrl+C.",
          file=sys.stderr, flush=True)
    settings = dict(host=options.host, port=options.port, log_level="warning", server_header=False,
                    timeout_graceful_shutdown=max(5, round(options.timeout_s)))
    if options.workers == 1:
        uvicorn.run(build_app(run_id, options, predictor), **settings)
        return
    with tempfile.TemporaryDirectory(prefix="trainyard-metrics-") as figures:
        os.environ.update({RUN_VARIABLE: str(run_id), OPTIONS_VARIABLE: options.model_dump_json(),
                           "PROMETHEUS_MULTIPROC_DIR": figures})  # the workers add up their figures there
        _run_workers(uvicorn.Config("engine.serving.http:app_from_environment", factory=True,
                                    workers=options.workers, **settings))


def _run_workers(config) -> None:
    """Run uvicorn's worker processes on one listening socket, as uvicorn.run does, but with the socket marked as
    TCP: asyncio turns Nagle's algorithm off only on sockets that say so, and uvicorn's own shared socket does not,
    which held every answer of a worker process back by 40 ms (the client's delayed acknowledgement)."""
    import socket

    from uvicorn.supervisors import Multiprocess

    bound = config.bind_socket()
    sock = socket.socket(bound.family, bound.type, socket.IPPROTO_TCP, fileno=bound.detach())
    try:
        Multiprocess(config, sockets=[sock]).run()
    except KeyboardInterrupt:
        pass


def load_predictor(run_id: int, runtime: str = "onnx", quantized: bool = False,
                   threads: Optional[int] = None) -> Predictor:
    """Give back a predictor for run_id: ONNX Runtime on its export (made when missing), else PyTorch; or, when
    quantized, ONNX Runtime on its int8 model (made when missing; UserError when it cannot be).

    With a current export at hand, torch is never imported: the service starts in about a second.
    """
    from engine.serving.runtime import onnx_predictor, onnx_ready

    if quantized:
        if runtime != "onnx":
            raise UserError("The int8 model runs in ONNX Runtime: leave out --runtime torch.")
        if not onnx_ready(run_id, quantized=True):
            from engine.serving.export import export_run

            export_run(run_id, "onnx", quantize="int8")
        return onnx_predictor(run_id, threads, quantized=True)
    if runtime == "onnx" and onnx_ready(run_id):
        return onnx_predictor(run_id, threads)
    from engine.serving.predict import load_trained, torch_predictor

    trained = load_trained(run_id)  # says plainly when the run has no model
    if runtime == "onnx":
        from engine.serving.export import export_run

        try:
            export_run(run_id, "onnx")
            return onnx_predictor(run_id, threads)
        except UserError as error:
            print(f"Answering with PyTorch instead of ONNX Runtime: {error}", file=sys.stderr, flush=True)
    return torch_predictor(trained)
