"""Settings forms rendered from a config class's JSON schema: a new setting needs no page change."""

from __future__ import annotations

import json
import math
from typing import Any

import streamlit as st
from pydantic import BaseModel


def _bounds(spec: dict[str, Any]) -> tuple[Any, Any]:
    low = spec.get("minimum", spec.get("exclusiveMinimum"))
    high = spec.get("maximum", spec.get("exclusiveMaximum"))
    return low, high


def field_widget(name: str, spec: dict[str, Any], value: Any, key: str) -> Any:
    """Draw one widget for a schema property and give back what the user chose."""
    label = spec.get("title", name.replace("_", " ").capitalize())
    help_text = spec.get("description")
    options = spec.get("enum")
    if options:
        index = options.index(value) if value in options else 0
        labels = spec.get("option_labels", {})
        return st.selectbox(label, options, index=index, help=help_text, key=key,
                            format_func=lambda option: labels.get(option, str(option).replace("_", " ")))
    kind = spec.get("type")
    if kind == "boolean":
        return st.checkbox(label, value=bool(value), help=help_text, key=key)
    if kind == "integer":
        low, high = _bounds(spec)
        return int(st.number_input(label, min_value=low, max_value=high, value=int(value), step=1,
                                   help=help_text, key=key))
    if kind == "number":
        low, high = _bounds(spec)
        if "exclusiveMinimum" in spec:
            low = None  # the form cannot express "greater than"; validation says it in words
        step = 10 ** -4 if float(value) < 0.01 else 0.01
        return float(st.number_input(label, min_value=None if low is None else float(low),
                                     max_value=None if high is None else float(high), value=float(value),
                                     step=step, format="%g", help=help_text, key=key))
    if kind == "array":
        text = st.text_input(label, value=", ".join(str(v) for v in value), help=help_text, key=key)
        try:
            return [int(part) for part in text.replace(";", ",").split(",") if part.strip()]
        except ValueError:
            st.error(f"{label}: write whole numbers separated by commas, for example 128, 64.")
            return value
    return st.text_input(label, value="" if value is None else str(value), help=help_text, key=key)


def is_shown(spec: dict[str, Any], known: dict[str, Any]) -> bool:
    """Whether a setting applies, given what is known so far (its `shown_when` names the values it needs)."""
    return all(known.get(name) in allowed for name, allowed in spec.get("shown_when", {}).items())


def settings_form(config_class: type[BaseModel], key_prefix: str, values: dict[str, Any] | None = None,
                  only: list[str] | None = None, skip: tuple[str, ...] = ("name",), columns: int = 2,
                  group: str | None = None, context: dict[str, Any] | None = None) -> dict[str, Any]:
    """Draw widgets for config_class's fields and give back the chosen values.

    `only` names the fields, or `group` picks those whose schema says that group. A field whose `shown_when`
    does not hold for the context (the data set's kind, settings chosen elsewhere) or the values chosen
    above it is left out, so it keeps its default.
    """
    schema = config_class.model_json_schema()
    defaults = config_class().model_dump()
    values = {**defaults, **(values or {})}
    names = [n for n in (only or schema["properties"]) if n not in skip and n in schema["properties"]
             and (group is None or schema["properties"][n].get("group") == group)]
    chosen: dict[str, Any] = {}
    grid = st.columns(columns) if columns > 1 else [st.container()]
    shown = 0
    for name in names:
        spec = schema["properties"][name]
        if not is_shown(spec, {**values, **(context or {}), **chosen}):
            continue
        with grid[shown % len(grid)]:
            chosen[name] = field_widget(name, spec, values.get(name), f"{key_prefix}.{name}")
        shown += 1
    return chosen


# ---------------------------------------------------------------- searching a setting over many runs (sweeps)

SEARCHABLE = ("integer", "number", "boolean", "array")


def searchable(spec: dict[str, Any]) -> bool:
    """Whether a sweep can vary a schema property: a number, a switch, a list, or one of a few named choices."""
    return bool(spec.get("enum")) or spec.get("type") in SEARCHABLE


def search_start(spec: dict[str, Any]) -> dict[str, Any]:
    """Give back where a setting's search starts, from its default and bounds: every choice; the default list and
    one twice as wide; whole numbers from half to twice the default; other numbers a tenth to ten times it on a
    log scale (from 0 to 1 at most when the default is 0)."""
    default = spec.get("default")
    if spec.get("enum"):
        return {"choices": list(spec["enum"])}
    if spec.get("type") == "boolean":
        return {"choices": [True, False]}
    if spec.get("type") == "array":
        return {"choices": [default, [2 * v for v in default]]}
    low, high = _bounds(spec)
    high = high if high is not None else math.inf
    if "exclusiveMaximum" in spec:
        high = high * 0.99
    if spec.get("type") == "integer":
        start = max(low or 1, default // 2)
        return {"low": start, "high": int(min(high, max(default * 2, start + 1))), "log": False}
    if not default:
        return {"low": 0.0, "high": float(min(high, 1.0)), "log": False}
    return {"low": max(low or 0.0, default / 10), "high": float(min(high, default * 10)), "log": True}


def search_widget(spec: dict[str, Any], start: dict[str, Any], key: str) -> dict[str, Any] | None:
    """Draw the controls that search one schema property, from its title and description: a range with a log
    switch for numbers, a choice of values for the rest; give back {low, high, log} or {choices}, or None (with
    a message under the control) when a list of lists cannot be read."""
    label = spec.get("title", key)
    help_text = spec.get("description")
    if spec.get("enum") or spec.get("type") == "boolean":
        labels = spec.get("option_labels", {True: "Yes", False: "No"})
        picked = st.multiselect(label, spec.get("enum") or [True, False], default=start["choices"], key=key,
                                format_func=lambda option: labels.get(option, str(option).replace("_", " ")),
                                help=help_text, placeholder="Choose the values to try")
        return {"choices": picked}
    if spec.get("type") == "array":
        text = st.text_input(f"{label}: the lists to try", key=key, help=help_text,
                             value=", ".join(json.dumps(choice) for choice in start["choices"]))
        try:
            choices = json.loads(f"[{text}]")
        except json.JSONDecodeError:
            choices = None
        if not isinstance(choices, list) or not all(isinstance(c, list) for c in choices):
            st.error(f"{label}: write each list to try in square brackets, separated by commas, for example "
                     "[128, 64], [256, 128].")
            return None
        return {"choices": choices}
    whole = spec.get("type") == "integer"
    number = int if whole else float
    cells = st.columns([2, 2, 1], vertical_alignment="bottom")
    low = cells[0].number_input(f"{label}: from", value=number(start["low"]), step=1 if whole else None,
                                format=None if whole else "%g", key=f"{key}.low", help=help_text)
    high = cells[1].number_input(f"{label}: to", value=number(start["high"]), step=1 if whole else None,
                                 format=None if whole else "%g", key=f"{key}.high")
    log = cells[2].checkbox("Log scale", value=start["log"], key=f"{key}.log",
                            help="Spread the tries evenly over the orders of magnitude (0.001, 0.01, 0.1 …) rather "
                                 "than over the numbers: right for learning rates and other settings whose useful "
                                 "values span several powers of ten.")
    return {"low": low, "high": high, "log": log}
