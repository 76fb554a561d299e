"""Settings forms rendered from a config class's JSON schema: a new setting needs no page change."""

from __future__ import annotations

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
