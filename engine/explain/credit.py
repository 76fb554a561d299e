"""What every integrated-gradients explanation shares (rows, pictures and texts in engine.explain.attributions).

The function whose answer is explained, the class explained, the scale back to the target's units, and how the
credits become the result's pushes, strongest first, and one plain sentence.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch.nn import functional as F

SHOWN_PUSHES = 12  # the strongest columns or words listed in a result (a text's every word stays in "words")


def _log_answer(model: torch.nn.Module, classify: bool) -> Callable[[torch.Tensor], torch.Tensor]:
    """Give back the function whose output is explained: class log-probabilities, or the (standardised) number."""
    def answer(x: torch.Tensor) -> torch.Tensor:
        outputs = model(x)
        return F.log_softmax(outputs, dim=-1) if classify else outputs.reshape(len(outputs), -1)[:, :1]
    return answer


def _targets(prep: dict[str, Any], answers: list[dict[str, Any]]) -> list[int]:
    if prep["task"] != "classification":
        return [0] * len(answers)
    return [prep["classes"].index(answer["prediction"]) for answer in answers]


def _scale(prep: dict[str, Any]) -> float:
    """Attributions of a number are in the model's standardised units; this brings them to the target's units."""
    return float(prep.get("target_std", 1.0)) if prep["task"] == "regression" else 1.0


def _direction(prep: dict[str, Any], value: float) -> str:
    if prep["task"] == "regression":
        return "up" if value >= 0 else "down"
    return "towards" if value >= 0 else "away"


def _pushes(prep: dict[str, Any], named: list[tuple[str, float, Any]]) -> list[dict[str, Any]]:
    """Give back (name, credit, shown value) as the result's pushes, strongest first."""
    ranked = sorted(named, key=lambda item: -abs(item[1]))
    pushes = []
    for name, value, shown in ranked[:SHOWN_PUSHES]:
        push = {"name": name, "value": round(float(value), 6), "direction": _direction(prep, value)}
        if shown is not None:
            push["input"] = shown
        pushes.append(push)
    return pushes


def _answer_name(prep: dict[str, Any], answer: dict[str, Any]) -> str:
    """Give back how the answer is named in a sentence."""
    if prep["task"] == "regression":
        return f"a higher {prep.get('target', 'value')}"
    return f"'{answer['prediction']}'"


def _sentence(prep: dict[str, Any], answer: dict[str, Any], pushes: list[dict[str, Any]], what: str,
              compared: str) -> str:
    """Give back one plain sentence naming the strongest push each way."""
    if not pushes or all(abs(p["value"]) < 1e-9 for p in pushes):
        return f"No single {what} stood out: {compared}, nothing moved the answer much."
    towards = [p for p in pushes if p["value"] > 0]
    away = [p for p in pushes if p["value"] < 0]
    regression = prep["task"] == "regression"
    target = prep.get("target", "value")
    parts = []
    if towards:
        parts.append(f"'{towards[0]['name']}' pushed most " + (f"towards a higher {target}" if regression
                                                                else f"towards '{answer['prediction']}'"))
    if away:
        parts.append(f"'{away[0]['name']}' pushed most " + (f"towards a lower {target}" if regression
                                                             else f"away from '{answer['prediction']}'"))
    return f"{compared[:1].upper()}{compared[1:]}, " + " and ".join(parts) + "."
