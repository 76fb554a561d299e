"""The HTTP service of one trained run (FastAPI): POST /predict, POST /explain, GET /model, GET /health, OpenAPI at
/docs.

The request body is typed per kind of data from the fitted preprocessing, so /docs lists a table's own
columns. A bad request gets a 4xx answer whose "error" says in plain words what is wrong, never a 500.
"""

# No `from __future__ import annotations` here: FastAPI reads the request and answer types of /predict from
# real annotations, and these types are made at run time from the model's preprocessing.

import base64
import binascii
from typing import Any, Callable, NamedTuple, Optional, Union

import pandas as pd
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from pydantic import BaseModel, ConfigDict, Field, create_model
from starlette.exceptions import HTTPException

from engine.errors import UserError
from engine.serving import DEFAULT_TOP, MAX_TOP
from engine.serving.runtime import MAX_INPUTS, Predictor

MAX_BODY_BYTES = 32 * 1024 * 1024
MAX_IMAGES = 64
MAX_TEXT_CHARACTERS = 100_000


# ---------------------------------------------------------------- requests, per kind of data


class RequestShape(NamedTuple):
    model: type[BaseModel]
    read: Callable[[Any], tuple[Any, list[str], dict[str, Any]]]  # request -> (raw inputs, names, options)


def _table_request(prep: dict[str, Any]) -> RequestShape:
    fields: dict[str, Any] = {}
    example: dict[str, Any] = {}
    for i, column in enumerate(prep["numeric"]):
        fields[f"number_{i}"] = (Optional[float], Field(alias=column["name"], description=(
            f"a number; typical value {column['median']:.4g}; null when unknown")))
        example[column["name"]] = column["median"]
    for i, column in enumerate(prep["categorical"]):
        shown = ", ".join(column["categories"][:12]) + (", …" if len(column["categories"]) > 12 else "")
        fields[f"category_{i}"] = (Optional[Union[str, int, float, bool]], Field(alias=column["name"], description=(
            f"one of: {shown}; another value counts as unseen; null when unknown")))
        example[column["name"]] = column["categories"][0] if column["categories"] else ""
    row = create_model("Row", __config__=ConfigDict(extra="ignore"), **fields)
    request = create_model(
        "RowsRequest", __config__=ConfigDict(extra="forbid", json_schema_extra={"examples": [{"rows": [example]}]}),
        rows=(list[row], Field(min_length=1, max_length=MAX_INPUTS,
                               description="the rows to predict, each with every input column")))
    names = [c["name"] for c in prep["numeric"]] + [c["name"] for c in prep["categorical"]]

    def read(body) -> tuple[Any, list[str], dict[str, Any]]:
        records = [item.model_dump(by_alias=True) for item in body.rows]
        records = [{k: (v if v is None or isinstance(v, float) else str(v)) for k, v in r.items()} for r in records]
        return pd.DataFrame(records, columns=names), [f"row {i + 1}" for i in range(len(records))], {}

    return RequestShape(request, read)


def _text_request(prep: dict[str, Any]) -> RequestShape:
    request = create_model(
        "TextsRequest", __config__=ConfigDict(extra="forbid", json_schema_extra={
            "examples": [{"texts": ["What a wonderful film, I loved every minute."]}]}),
        texts=(list[str], Field(min_length=1, max_length=MAX_INPUTS, description="the texts to classify")))

    def read(body) -> tuple[Any, list[str], dict[str, Any]]:
        from engine.serving.inputs import TextInputs

        for i, value in enumerate(body.texts):
            if len(value) > MAX_TEXT_CHARACTERS:
                raise UserError(f"Text {i + 1} has {len(value):,} characters; at most {MAX_TEXT_CHARACTERS:,} fit.")
        names = [value[:40] + ("…" if len(value) > 40 else "") for value in body.texts]
        return TextInputs().frame(prep, body.texts), names, {}

    return RequestShape(request, read)


def _image_request(prep: dict[str, Any]) -> RequestShape:
    request = create_model(
        "ImagesRequest", __config__=ConfigDict(extra="forbid"),
        images=(list[str], Field(min_length=1, max_length=MAX_IMAGES,
                                 description="image files (PNG, JPEG, …) encoded as base64 text, or data: URLs")))

    def read(body) -> tuple[Any, list[str], dict[str, Any]]:
        images = []
        for i, value in enumerate(body.images):
            try:
                images.append(base64.b64decode(value.split(",", 1)[-1] if value.startswith("data:") else value,
                                               validate=True))
            except (binascii.Error, ValueError):
                raise UserError(f"Image {i + 1} is not valid base64 text. Encode the image file's bytes "
                                "with base64.") from None
        return images, [f"image {i + 1}" for i in range(len(images))], {}

    return RequestShape(request, read)


def _rating_request(prep: dict[str, Any]) -> RequestShape:
    example_user = str(prep["users"][0]) if prep.get("users") else "42"
    request = create_model(
        "UsersRequest", __config__=ConfigDict(extra="forbid", json_schema_extra={
            "examples": [{"users": [example_user], "top": DEFAULT_TOP}]}),
        users=(list[Union[str, int]], Field(min_length=1, max_length=MAX_INPUTS,
                                            description="the users to recommend items to")),
        top=(int, Field(DEFAULT_TOP, ge=1, le=MAX_TOP, description="how many items to recommend to each user")))

    def read(body) -> tuple[Any, list[str], dict[str, Any]]:
        users = [str(user) for user in body.users]
        return users, users, {"top": body.top}

    return RequestShape(request, read)


REQUESTS: dict[str, Callable[[dict[str, Any]], RequestShape]] = {
    "tabular": _table_request, "text": _text_request, "image": _image_request, "ratings": _rating_request}


# ---------------------------------------------------------------- answers, per task


class ClassAnswer(BaseModel):
    input: str = Field(description="which input this answers")
    prediction: str = Field(description="the most likely label")
    confidence: float = Field(description="the model's probability for that label, 0 to 1")
    probabilities: dict[str, float] = Field(description="the probability of every label")


class NumberAnswer(BaseModel):
    input: str
    prediction: float = Field(description="the predicted number, in the target column's units")


class RecommendedItem(BaseModel):
    item: str
    predicted_rating: float


class Recommendation(BaseModel):
    input: str
    user: str
    known_user: bool = Field(description="false for a user the model never saw: items liked by most come first")
    top_items: list[RecommendedItem]


ANSWERS: dict[str, type[BaseModel]] = {"classification": ClassAnswer, "regression": NumberAnswer,
                                       "rating": Recommendation}


# ---------------------------------------------------------------- errors in plain words


PLAIN_PROBLEMS = {
    "missing": "is missing",
    "float_parsing": "should be a number",
    "float_type": "should be a number",
    "string_type": "should be text",
    "int_parsing": "should be a whole number",
    "list_type": "should be a list [...]",
    "model_attributes_type": "should be a JSON object {...}",
    "dict_type": "should be a JSON object {...}",
    "extra_forbidden": "is not a field this service knows",
}


def _where(location: tuple) -> str:
    parts = [p for p in location if p != "body"]
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "the request body"


def explain(error: RequestValidationError) -> tuple[str, list[dict[str, str]]]:
    """Give back a plain sentence about what is wrong with a request, and each problem with its place."""
    problems = []
    for item in error.errors():
        kind, context = item.get("type", ""), item.get("ctx") or {}
        location = tuple(item.get("loc", ()))
        if kind == "json_invalid":
            location = ("body",)  # pydantic gives the character position as the place
            message = f"is not valid JSON ({context.get('error', 'it cannot be read')})"
        elif kind == "too_short":
            message = f"should hold at least {context.get('min_length', 1)}"
        elif kind == "too_long":
            message = (f"holds {context.get('actual_length', 'too many')}; at most {context.get('max_length')} fit "
                       "in one request")
        elif kind == "missing" and location in (("body",), ()):
            message = "is missing: send a JSON object such as the example in /docs"
        else:
            message = PLAIN_PROBLEMS.get(kind, item.get("msg", "is not valid").removeprefix("Value error, "))
        problems.append({"where": _where(location), "problem": message})
    shown = "; ".join(f"{p['where']} {p['problem']}" for p in problems[:5])
    more = f" (and {len(problems) - 5} more problems)" if len(problems) > 5 else ""
    return f"The request is not valid: {shown}{more}.", problems


def create_app(predictor: Predictor, about: dict[str, Any], explainer: Optional[Callable[..., Any]] = None) -> FastAPI:
    """Give back the service answering with predictor; about describes the model (run, model, data set). With an
    explainer (explainer_for), POST /explain takes the same requests as /predict and says why each answer."""
    prep = predictor.preprocessing
    shape = REQUESTS[prep["kind"]](prep)
    answer = ANSWERS[prep["task"]]
    predictions = create_model("Predictions", run=(int, ...), predictions=(list[answer], ...))
    run_id = about.get("run")

    app = FastAPI(title=f"Trainyard run {run_id}", version="1",
                  description=f"Predictions from the model of Trainyard run {run_id} ({about.get('model')} trained on "
                              f"'{about.get('dataset')}'). POST inputs to /predict; GET /model describes the model.")

    @app.middleware("http")
    async def limit_body(request: Request, call_next):
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
            return JSONResponse(status_code=413, content={
                "error": f"The request is larger than {MAX_BODY_BYTES // 2**20} MB. Send fewer inputs at a time."})
        return await call_next(request)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError):
        message, problems = explain(error)
        return JSONResponse(status_code=422, content={"error": message, "problems": problems})

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

    @app.get("/health", summary="Whether the service is up")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/model", summary="What the model is and what it expects")
    def model() -> dict[str, Any]:
        return about

    def predict(request):
        try:
            raw, names, options = shape.read(request)
            answers = predictor.predict(raw, names, **options)
        except UserError as error:
            return JSONResponse(status_code=400, content={"error": str(error)})
        # The answers are plain dicts made to the documented shape: sent as they are, without a second check.
        return JSONResponse({"run": run_id, "predictions": answers})

    predict.__annotations__ = {"request": shape.model}
    app.add_api_route("/predict", predict, methods=["POST"], response_model=predictions,
                      summary="Predict for one or more inputs",
                      responses={400: {"description": "inputs the model cannot read, with the reason in 'error'"},
                                 422: {"description": "a request of the wrong form, with the reason in 'error'"}})
    if explainer is not None:
        def explain_answers(request):
            try:
                raw, names, options = shape.read(request)
                explanations = explainer(raw, names, **options)
            except UserError as error:
                return JSONResponse(status_code=400, content={"error": str(error)})
            return JSONResponse({"run": run_id, "explanations": explanations})

        explain_answers.__annotations__ = {"request": shape.model}
        app.add_api_route("/explain", explain_answers, methods=["POST"],
                          summary="Predict and say why: what in each input pushed the answer (an approximation)",
                          description="The same request as /predict; each answer also has 'pushes' (columns or "
                                      "words with their credit), 'heatmap' for pictures, 'because' for "
                                      "recommendations, and a 'sentence' in plain words.",
                          responses={400: {"description": "inputs the model cannot read, with the reason in 'error'"},
                                     422: {"description": "a request of the wrong form, with the reason in 'error'"}})
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
        about["inputs"] = ([{"column": c["name"], "type": "number"} for c in prep["numeric"]]
                           + [{"column": c["name"], "type": "category", "categories": c["categories"]}
                              for c in prep["categorical"]])
    return about


def serve(run_id: int, host: str = "127.0.0.1", port: int = 8000, runtime: str = "onnx",
          quantized: bool = False) -> None:
    """Answer HTTP requests for run_id until stopped (Ctrl+C), with its int8 model when quantized."""
    import sys

    import uvicorn

    from db import repo

    predictor = load_predictor(run_id, runtime, quantized)
    app = create_app(predictor, describe(predictor, repo.get_run(run_id)), explainer=explainer_for(run_id))
    print(f"Serving run {run_id} at http://{host}:{port} ({predictor.runtime}); the API is described at "
          f"http://{host}:{port}/docs. Stop with Ctrl+C.", file=sys.stderr, flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")


def load_predictor(run_id: int, runtime: str = "onnx", quantized: bool = False) -> Predictor:
    """Give back a predictor for run_id: ONNX Runtime on its export (made when missing), else PyTorch; or, when
    quantized, ONNX Runtime on its int8 model (made when missing; UserError when it cannot be).

    With a current export at hand, torch is never imported: the service starts in about a second.
    """
    import sys

    from engine.serving.runtime import onnx_predictor, onnx_ready

    if quantized:
        if runtime != "onnx":
            raise UserError("The int8 model runs in ONNX Runtime: leave out --runtime torch.")
        if not onnx_ready(run_id, quantized=True):
            from engine.serving.export import export_run

            export_run(run_id, "onnx", quantize="int8")
        return onnx_predictor(run_id, quantized=True)
    if runtime == "onnx" and onnx_ready(run_id):
        return onnx_predictor(run_id)
    from engine.serving.predict import load_trained, torch_predictor

    trained = load_trained(run_id)  # says plainly when the run has no model
    if runtime == "onnx":
        from engine.serving.export import export_run

        try:
            export_run(run_id, "onnx")
            return onnx_predictor(run_id)
        except UserError as error:
            print(f"Answering with PyTorch instead of ONNX Runtime: {error}", file=sys.stderr, flush=True)
    return torch_predictor(trained)
