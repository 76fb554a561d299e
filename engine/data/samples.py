"""Sample data sets of every kind, made offline: real data that ships with scikit-learn, or generated.

Each sample is written to a file and added through the same path as a user's upload.
"""

from __future__ import annotations

import io
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Sample:
    title: str
    kind: str
    description: str
    file_name: str
    write: Callable[[Path], None]
    options: tuple[tuple[str, Any], ...] = ()


# ---------------------------------------------------------------- tables from scikit-learn


def sample_frame(key: str) -> pd.DataFrame:
    """Give back the scikit-learn table named key, with a readable label column."""
    from sklearn import datasets

    loader = {"iris": datasets.load_iris, "wine": datasets.load_wine,
              "breast_cancer": datasets.load_breast_cancer, "diabetes": datasets.load_diabetes}[key]
    bunch = loader(as_frame=True)
    frame = bunch.frame.copy()
    if key == "diabetes":
        return frame.rename(columns={"target": "progression"})
    names = list(getattr(bunch, "target_names", []))
    frame["target"] = [str(names[i]) for i in frame["target"]]
    return frame.rename(columns={"target": "label"})


def messy_iris() -> pd.DataFrame:
    """Give back the iris table with the faults users bring: gaps, copies, stray spellings, a typo'd number."""
    rng = np.random.default_rng(7)
    frame = sample_frame("iris")
    frame["label"] = frame["label"].astype(object)
    for column in ("sepal width (cm)", "petal length (cm)"):
        frame.loc[rng.choice(len(frame), 6, replace=False), column] = np.nan
    spelled = rng.choice(frame.index[frame["label"] == "setosa"], 4, replace=False)
    frame.loc[spelled[:2], "label"] = "Setosa"
    frame.loc[spelled[2:], "label"] = "setosa "
    frame.loc[rng.choice(len(frame), 1), "sepal length (cm)"] = 58.0  # a misplaced decimal point
    frame["collected by"] = "lab A"
    return pd.concat([frame, frame.iloc[rng.choice(len(frame), 8, replace=False)]], ignore_index=True)


def _table_writer(make: Callable[[], pd.DataFrame]) -> Callable[[Path], None]:
    return lambda path: make().to_csv(path, index=False)


# ---------------------------------------------------------------- images: handwritten digits


def write_digits_zip(path: Path) -> None:
    """Write scikit-learn's 1,797 handwritten digits (8 × 8, grey) as PNG files, one folder per digit."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for i, (image, label) in enumerate(zip(digits.images, digits.target)):
            grey = (255 - image * 255 / 16).round().astype(np.uint8)  # dark ink on white paper
            buffer = io.BytesIO()
            Image.fromarray(grey, mode="L").save(buffer, "PNG")
            archive.writestr(f"digits/{label}/{i:04d}.png", buffer.getvalue())


# ---------------------------------------------------------------- text: product reviews

PRODUCTS = ("kettle", "headphones", "backpack", "desk lamp", "blender", "phone case", "umbrella", "toaster",
            "keyboard", "water bottle", "hair dryer", "camera bag", "coffee grinder", "speaker", "jacket")
POSITIVE = ("works perfectly", "is excellent value", "exceeded my expectations", "is sturdy and well made",
            "looks great on my desk", "is exactly as described", "was a lovely gift", "is quiet and fast",
            "feels premium", "does the job brilliantly", "is comfortable to use all day", "is simply superb")
NEGATIVE = ("broke after a week", "is a waste of money", "stopped working", "feels cheap and flimsy",
            "is far too loud", "arrived scratched", "smells of burnt plastic", "is nothing like the photos",
            "leaks everywhere", "is painfully slow", "fell apart quickly", "is a total disappointment")
LIKE = ("I love it", "Highly recommended", "Would buy again", "Five stars from me", "Very happy",
        "My family loves it too", "Great purchase", "Delighted with it")
DISLIKE = ("I want a refund", "Avoid this one", "Would not buy again", "One star", "Very disappointed",
           "Sent it back", "Really annoying", "Do not recommend")
NEUTRAL = ("Delivery took three days.", "The box was plain cardboard.", "I bought it last month.",
           "It comes in blue and grey.", "The manual is short.", "I use it in the kitchen.",
           "My old one was a different brand.", "It was on sale.")


def product_reviews(rows: int = 1500, seed: int = 0) -> pd.DataFrame:
    """Give back generated product reviews labelled positive or negative.

    Like real reviews, many mix praise and complaints, some have no verdict, and a few labels are wrong,
    so a model cannot be perfect.
    """
    rng = np.random.default_rng(seed)
    reviews, labels = [], []
    for _ in range(rows):
        good = rng.random() < 0.5
        product = rng.choice(PRODUCTS)
        parts = []
        for _ in range(rng.integers(1, 4)):  # each point leans the review's way, but not always
            praise = rng.random() < (0.7 if good else 0.3)
            verb = rng.choice(POSITIVE if praise else NEGATIVE)
            parts.append(f"The {product} {verb}." if not parts else f"{rng.choice(('Also', 'But', 'And'))} it {verb}.")
        if rng.random() < 0.6:
            parts.append(f"{rng.choice(LIKE if good else DISLIKE)}.")
        parts += list(rng.choice(NEUTRAL, size=rng.integers(0, 3), replace=False))
        reviews.append(" ".join(parts[:1] + [parts[i] for i in 1 + rng.permutation(len(parts) - 1)]))
        wrong = rng.random() < 0.03  # a reviewer who clicked the wrong button
        labels.append("positive" if good != wrong else "negative")
    return pd.DataFrame({"review": reviews, "sentiment": labels})


# ---------------------------------------------------------------- ratings: films

GENRES = ("comedy", "drama", "horror", "romance", "science fiction", "animation")
TITLE_WORDS = ("Midnight", "River", "Silent", "Golden", "Last", "Hidden", "Paper", "Winter", "Electric",
               "Broken", "Summer", "Iron", "Glass", "Distant", "Wild", "Secret", "Lost", "Northern")
TITLE_NOUNS = ("Garden", "Signal", "Kingdom", "Promise", "Harbour", "Machine", "Orchard", "Voyage", "Letters",
               "Empire", "Lighthouse", "Storm", "Circus", "Bridge", "Station", "Forest")


def film_ratings(users: int = 400, films: int = 240, seed: int = 0) -> pd.DataFrame:
    """Give back generated 1–5 star ratings: each user likes some genres, each film has one and a quality."""
    rng = np.random.default_rng(seed)
    titles = [f"{a} {b}" for a in TITLE_WORDS for b in TITLE_NOUNS]
    titles = [titles[i] for i in rng.choice(len(titles), films, replace=False)]
    genre = rng.integers(0, len(GENRES), films)
    quality = rng.normal(0, 0.6, films)
    taste = rng.normal(0, 1.0, (users, len(GENRES)))
    generosity = rng.normal(0, 0.4, users)
    popularity = np.exp(rng.normal(0, 1, films))
    rows = []
    start = pd.Timestamp("2024-01-01").value // 10**9
    for user in range(users):
        count = int(rng.integers(8, min(60, films)))
        seen = rng.choice(films, count, replace=False, p=popularity / popularity.sum())
        for film in seen:
            score = 3.2 + 0.9 * taste[user, genre[film]] + quality[film] + generosity[user] + rng.normal(0, 0.5)
            rows.append((f"u{user + 1:04d}", titles[film], int(np.clip(np.rint(score), 1, 5)),
                         int(start + rng.integers(0, 365 * 86400))))
    return pd.DataFrame(rows, columns=["user_id", "film", "rating", "timestamp"])


# ---------------------------------------------------------------- the list


SAMPLES: dict[str, Sample] = {
    "iris": Sample("Iris flowers", "tabular",
                   "Tell three kinds of iris apart from the size of their petals and sepals (150 rows).",
                   "iris.csv", _table_writer(lambda: sample_frame("iris"))),
    "messy_iris": Sample("Iris flowers, messy", "tabular",
                         "The iris table with gaps, copied rows, labels spelled three ways and a typing error: "
                         "try the one-click fixes (158 rows).",
                         "iris_messy.csv", _table_writer(messy_iris)),
    "wine": Sample("Wine cultivars", "tabular",
                   "Tell three grape cultivars apart from a wine's chemistry (178 rows).",
                   "wine.csv", _table_writer(lambda: sample_frame("wine"))),
    "breast_cancer": Sample("Breast cancer screening", "tabular",
                            "Tell benign from malignant tumours from 30 cell measurements (569 rows).",
                            "breast_cancer.csv", _table_writer(lambda: sample_frame("breast_cancer"))),
    "diabetes": Sample("Diabetes progression", "tabular",
                       "Predict disease progression after a year, a number, from 10 measurements (442 rows).",
                       "diabetes.csv", _table_writer(lambda: sample_frame("diabetes"))),
    "digits": Sample("Handwritten digits", "image",
                     "1,797 scanned handwritten digits, 0 to 9, in one folder per digit; 8 × 8 grey pictures "
                     "enlarged to 32 × 32 so that every image model fits.",
                     "digits.zip", write_digits_zip, (("image_size", (32, 32)),)),
    "reviews": Sample("Product reviews", "text",
                      "1,500 short generated product reviews, positive or negative; many mix praise and "
                      "complaints: classify the text.",
                      "reviews.csv", _table_writer(product_reviews)),
    "films": Sample("Film ratings", "ratings",
                    "About 13,000 generated 1–5 star ratings of 240 films by 400 people, with dates: "
                    "recommend films.",
                    "film_ratings.csv", _table_writer(film_ratings)),
}


def add_sample(key: str) -> dict[str, Any]:
    """Store the sample named key as a data set and give back its row."""
    from engine.data.ingest import add_dataset

    sample = SAMPLES[key]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / sample.file_name
        sample.write(path)
        return add_dataset(path, name=sample.title, original_name=sample.file_name, **dict(sample.options))
