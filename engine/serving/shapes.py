"""The shapes of the HTTP service's requests and answers, per kind of data and per task, made from the fitted
preprocessing (so /docs lists a table's own columns), and the plain sentence for a request of the wrong form.

A request's numbers must be finite: Infinity, NaN or 1e999 in JSON is refused with a 422, never passed on.
"""

# No `from __future__ import annotations` here: FastAPI reads the request and answer types of /predict from
# real annotations, and these types are made at run time from the model's preprocessing.

import base64
import binascii
from datetime import datetime
from typing import Annotated, Any, Callable, NamedTuple, Optional, Union

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, create_model

from engine.errors import UserError
from engine.serving import DEFAULT_TOP, MAX_TOP
from engine.serving.runtime import MAX_INPUTS

MAX_IMAGES = 64
MAX_TEXT_CHARACTERS = 100_000


# ---------------------------------------------------------------- requests, per kind of data


class RequestShape(NamedTuple):
    model: type[BaseModel]
    read: Callable[[Any], tuple[Any, list[str], dict[str, Any]]]  # request -> (raw inputs, names, options)


def _empty_mark(value: Any) -> Any:
    """Give back None for a mark of an empty cell sent as text ("?", "-", "", as in the files Trainyard reads)."""
    from engine.data.tables import EMPTY_MARKS

    return None if isinstance(value, str) and value.strip() in (*EMPTY_MARKS, "") else value


def _table_request(prep: dict[str, Any]) -> RequestShape:
    from engine.data.prepare_tables import input_columns

    fields: dict[str, Any] = {}
    example: dict[str, Any] = {}
    numbers = [(name, kind, typical) for name, kind, typical in input_columns(prep) if kind in ("number", "date")]
    for i, (name, kind, typical) in enumerate(numbers):
        if kind == "date":
            fields[f"date_{i}"] = (Optional[datetime], Field(alias=name, description=(
                f"a date, such as {typical} or {typical}T13:40:00; null when unknown")))
        else:
            fields[f"number_{i}"] = (Annotated[Optional[float], BeforeValidator(_empty_mark)], Field(
                alias=name, description=f"a number; typical value {typical:.4g}; null (or \"?\") when unknown"))
        example[name] = typical
    for i, column in enumerate(prep["categorical"]):
        shown = ", ".join(column["categories"][:12]) + (", …" if len(column["categories"]) > 12 else "")
        fields[f"category_{i}"] = (Optional[Union[str, int, float, bool]], Field(alias=column["name"], description=(
            f"one of: {shown}; another value counts as unseen; null when unknown")))
        example[column["name"]] = column["categories"][0] if column["categories"] else ""
    for i, column in enumerate(prep.get("texts", [])):
        fields[f"text_{i}"] = (Optional[str], Field(alias=column["name"], description=(
            f"a text; the model reads which of its {len(column['words'])} words it holds; null when unknown")))
        example[column["name"]] = " ".join(column["words"][:5])
    row = create_model("Row", __config__=ConfigDict(extra="ignore", allow_inf_nan=False), **fields)
    request = create_model(
        "RowsRequest", __config__=ConfigDict(extra="forbid", json_schema_extra={"examples": [{"rows": [example]}]}),
        rows=(list[row], Field(min_length=1, max_length=MAX_INPUTS,
                               description="the rows to predict, each with every input column")))

    def read(body) -> tuple[Any, list[str], dict[str, Any]]:
        # Rows as records (engine.data.prepare_tables.transform_records encodes them without building a frame).
        records = [item.model_dump(by_alias=True) for item in body.rows]
        records = [{k: (v if v is None or isinstance(v, float) else str(v)) for k, v in r.items()} for r in records]
        return records, [f"row {i + 1}" for i in range(len(records))], {}

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
    name: Optional[str] = Field(None, description="the item's name, when the data set had a column of names")
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
    "finite_number": "should be a finite number (Infinity and NaN are not; send null for a value you do not know)",
}


def _where(location: tuple) -> str:
    parts = [p for p in location if p != "body"]
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "the request body"


def too_many(error: RequestValidationError) -> bool:
    """Whether the request's list of inputs is longer than one request may hold (answered 413, not 422)."""
    return any(item.get("type") == "too_long" and len(item.get("loc", ())) == 2 for item in error.errors())


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


def example_request(prep: dict[str, Any], count: int = 1) -> dict[str, Any]:
    """Give back a /predict request body of `count` typical inputs for the model of prep (for the Serving page's
    curl example and the speed bench)."""
    from engine.serving.inputs import inputs_for

    example = inputs_for(prep).example(prep)
    if prep["kind"] == "tabular":
        return {"rows": example.to_dict(orient="records") * count}
    if prep["kind"] == "text":
        return {"texts": ["Works well, great value, would buy again."] * count}
    if prep["kind"] == "image":
        return {"images": [base64.b64encode(example[0]).decode()] * count}
    return {"users": list(example) * count, "top": DEFAULT_TOP}
