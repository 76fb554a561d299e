"""Explanations of recommendations: why the model put an item before a user.

An item recommended to a user is explained by the items the user rated in training that sit nearest to it in the
model's own space of items (cosine similarity of the item vectors). engine.explain.attributions calls this for
data sets of ratings; the other kinds of data are explained there, with integrated gradients.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

BECAUSE = 3  # rated items shown behind each recommended item


def item_vectors(model) -> np.ndarray:
    """Give back one vector per item index (row 0: the unknown item) as the model places the items."""
    if hasattr(model, "items"):
        return model.items.weight.detach().numpy()
    return torch.cat([model.gmf_items.weight, model.mlp_items.weight], dim=1).detach().numpy()


def rated_by_user(run_id: int, prep: dict[str, Any]) -> dict[int, list[tuple[int, float]]]:
    """Give back, per user index, the (item index, rating) pairs of the run's training split."""
    from db import repo
    from engine.data.transform import decode_numbers
    from engine.data.prepare import prepare_run_data

    run = repo.get_run(run_id)
    _, data = prepare_run_data(run)
    pairs, ratings = data.arrays["train"]
    ratings = decode_numbers(prep, ratings)
    rated: dict[int, list[tuple[int, float]]] = {}
    for (user, item), rating in zip(pairs.tolist(), ratings.tolist()):
        rated.setdefault(int(user), []).append((int(item), float(rating)))
    return rated


def items_behind(vectors: np.ndarray, item: int, rated: list[tuple[int, float]], items: list[Any],
                 count: int = BECAUSE, names: list[str] | None = None) -> list[dict[str, Any]]:
    """Give back the user's rated items nearest to item in the model's space, nearest first (with their names when
    the data set has them)."""
    if not rated:
        return []
    norms = np.linalg.norm(vectors, axis=1).clip(min=1e-12)
    indices = np.array([i for i, _ in rated])
    similarity = vectors[indices] @ vectors[item] / (norms[indices] * norms[item])
    order = np.argsort(-similarity, kind="stable")[:count]
    return [{"item": str(items[indices[i] - 1]), "similarity": round(float(similarity[i]), 4),
             "rating": rated[i][1]} | ({"name": names[indices[i] - 1]} if names else {}) for i in order]


def explain_recommendations(model, prep: dict[str, Any], answers: list[dict[str, Any]],
                            rated: dict[int, list[tuple[int, float]]]) -> list[dict[str, Any]]:
    from engine.data.transform import transform_pairs
    from engine.serving.inputs import item_label

    vectors = item_vectors(model)
    items = list(prep["items"])
    index_of = {str(item): i + 1 for i, item in enumerate(items)}
    results = []
    for answer in answers:
        user = int(transform_pairs(prep, [answer["user"]], [items[0]])[0, 0])
        own = rated.get(user, [])
        recommended = [top | {"because": items_behind(vectors, index_of[top["item"]], own, items,
                                                      names=prep.get("item_names"))}
                       for top in answer["top_items"]]
        first = recommended[0] if recommended else None
        if not own or first is None:
            sentence = ("The model never saw this user rate anything, so there are no rated items to point to: "
                        "these items are the ones most people rate highly.")
        else:
            behind = ", ".join(f"'{item_label(b)}' (rated {b['rating']:g})" for b in first["because"])
            sentence = (f"In what the model learned about tastes, '{item_label(first)}' sits closest to these items "
                        f"this user rated: {behind}.")
        results.append({"method": "nearest rated items in the model's space (cosine similarity of item vectors)",
                        "because": first["because"] if first else [], "recommendations": recommended,
                        "sentence": sentence})
    return results
