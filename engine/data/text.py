"""Text classification tables: finding the text column, a word vocabulary, and token ids of fixed length.

Token id 0 is padding and 1 an unknown word; the vocabulary's words follow from 2 on, most frequent first.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache
from typing import Any, Iterable

import numpy as np
import pandas as pd

from engine.data.columns import duplicate_counts, looks_like_id
from engine.data.profile import MIN_MEAN_WORDS, MIN_ROWS, MOSTLY_DIFFERENT, action, counted, problem, spread_sample
from engine.data.table_report import class_problems, duplicate_problems, missing_problems, table_basics
from engine.errors import DataError

WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*", re.UNICODE)
TEXT_NAMES = ("text", "review", "sentence", "message", "comment", "body", "content", "tweet", "description",
              "title", "headline", "question", "document", "abstract", "summary")
PAD, UNKNOWN = 0, 1
MAX_VOCABULARY = 20_000
MIN_LENGTH, MAX_LENGTH = 8, 256
PIECE_TOKENIZER = "model/tokenizer.json"  # inside a pretrained text model's package


def tokens(text: Any) -> list[str]:
    """Give back the lower-case words of text (a missing text has none)."""
    if text is None or (not isinstance(text, str) and pd.isna(text)):
        return []
    return WORD.findall(str(text).lower())


def word_counts(texts: Iterable[Any]) -> np.ndarray:
    return np.array([len(tokens(text)) for text in texts], dtype=np.int64)


def _mean_words(series: pd.Series) -> float:
    """Give back how many words the column's values hold on average, or 0 where it is no free text: numbers, dates,
    or a few phrases said again and again."""
    if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_datetime64_any_dtype(series):
        return 0.0
    sample = spread_sample(series, 20_000).dropna().head(2000)
    if sample.astype(str).nunique() <= MOSTLY_DIFFERENT * len(sample):
        return 0.0
    return float(word_counts(sample).mean())


def find_text_column(frame: pd.DataFrame, exclude: tuple[str, ...] = ()) -> tuple[str | None, str]:
    """Give back (column, reason) for the column of free text, or (None, reason) when there is none."""
    best, best_words = None, 0.0
    for column in frame.columns:
        if column in exclude:
            continue
        words = _mean_words(frame[column])
        named = column.strip().lower() in TEXT_NAMES
        if words >= MIN_MEAN_WORDS or (named and words >= 2):
            if words > best_words:
                best, best_words = column, words
    if best is None:
        return None, "no column holds sentences"
    return best, f"'{best}' holds sentences of about {best_words:.0f} words"


def text_kind_reason(frame: pd.DataFrame) -> tuple[str | None, str]:
    """Give back (text column, reason) when the table is a text classification set, else (None, reason).

    It is when one column holds sentences and nothing else but the answer (and perhaps an identifier) remains.
    """
    column, reason = find_text_column(frame)
    if column is None:
        return None, reason
    others = [c for c in frame.columns if c != column and not looks_like_id(frame[c], c)]
    if len(others) > 2:
        return None, f"{reason}, but {len(others)} other columns can be inputs too"
    return column, f"{reason} and the table has little else"


def fit_vocabulary(texts: Iterable[Any], max_words: int = MAX_VOCABULARY) -> list[str]:
    """Give back the vocabulary: words seen at least twice (or once, when few are), most frequent first."""
    counts = Counter(word for text in texts for word in tokens(text))
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    frequent = [word for word, n in ranked if n >= 2]
    words = frequent if len(frequent) >= 100 else [word for word, _ in ranked]
    return words[:max_words]


def choose_max_length(lengths: np.ndarray) -> int:
    """Give back a maximum length that covers 95% of the texts, in steps of 8, within limits."""
    if len(lengths) == 0:
        return MIN_LENGTH
    covered = int(np.ceil(np.percentile(lengths, 95, method="nearest") / 8.0) * 8)
    return int(min(max(covered, MIN_LENGTH), MAX_LENGTH))


def encode_texts(texts: Iterable[Any], vocabulary: list[str] | dict[str, int], max_length: int) -> np.ndarray:
    """Give back int64 token ids (N, max_length): the first max_length words, padded with 0."""
    lookup = vocabulary if isinstance(vocabulary, dict) else {w: i + 2 for i, w in enumerate(vocabulary)}
    texts = list(texts)
    ids = np.full((len(texts), max_length), PAD, dtype=np.int64)
    for row, text in enumerate(texts):
        words = tokens(text)[:max_length]
        ids[row, : len(words)] = [lookup.get(word, UNKNOWN) for word in words]
    return ids


@lru_cache(maxsize=4)
def piece_tokenizer(model_name: str):
    """Give back the word piece tokenizer that came with a pretrained text model, neither padding nor cutting."""
    from tokenizers import Tokenizer

    from engine.models.registry import package_file

    tokenizer = Tokenizer.from_file(str(package_file(model_name, PIECE_TOKENIZER)))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer


def _texts(texts: Iterable[Any]) -> list[str]:
    return ["" if text is None or (not isinstance(text, str) and pd.isna(text)) else str(text) for text in texts]


def piece_counts(texts: Iterable[Any], model_name: str) -> np.ndarray:
    """Give back how many word pieces each text is, start and end marks included."""
    return np.array([len(found.ids) for found in piece_tokenizer(model_name).encode_batch(_texts(texts))],
                    dtype=np.int64)


def _piece_width(counts: np.ndarray) -> int:
    longest = int(counts.max()) if len(counts) else MIN_LENGTH
    return int(min(max(-(-longest // 8) * 8, MIN_LENGTH), MAX_LENGTH))


def piece_length(texts: Iterable[Any], model_name: str) -> int:
    """Give back the width of a text set's word piece ids: its longest text in steps of 8, within the model's limit
    (MAX_LENGTH pieces; a longer text keeps its beginning)."""
    return _piece_width(piece_counts(texts, model_name))


def encode_pieces(texts: Iterable[Any], model_name: str, max_length: int | None = None) -> np.ndarray:
    """Give back int64 word piece ids (N, max_length) as the pretrained model reads them: a start mark, the first
    pieces, an end mark, then 0 (padding). Upper or lower case, accents and punctuation are handled as it was
    trained (all-MiniLM-L6-v2 lower-cases and splits rare words into known pieces, so no word is unknown).
    Without max_length the width is the texts' own (piece_length's rule), from the same single tokenisation."""
    found = piece_tokenizer(model_name).encode_batch(_texts(texts))
    if max_length is None:
        max_length = _piece_width(np.array([len(pieces.ids) for pieces in found], dtype=np.int64))
    ids = np.zeros((len(found), max_length), dtype=np.int64)
    for row, pieces in enumerate(found):
        kept = pieces.ids if len(pieces.ids) <= max_length else pieces.ids[: max_length - 1] + pieces.ids[-1:]
        ids[row, : len(kept)] = kept
    return ids


def check_text(frame: pd.DataFrame, text_column: str, label_column: str) -> None:
    for column, role in ((text_column, "text"), (label_column, "label")):
        if column not in frame.columns:
            raise DataError(f"There is no column named '{column}' to use as the {role}. Choose one of: "
                            f"{', '.join(frame.columns)}.")
    if text_column == label_column:
        raise DataError("The text column and the label column must be two different columns.")
    if not word_counts(frame[text_column].dropna().head(5000)).any():
        raise DataError(f"The column '{text_column}' holds no words. Choose the column with the texts.")
    if frame[label_column].notna().sum() < MIN_ROWS:
        raise DataError(f"Only {frame[label_column].notna().sum()} rows have a label; at least {MIN_ROWS} are needed.")


def text_quality_report(frame: pd.DataFrame, text_column: str, label_column: str) -> dict[str, Any]:
    """Give back a JSON-able report of a text classification table: lengths, empty texts, labels, problems."""
    report = table_basics(frame)
    lengths = word_counts(frame[text_column])
    empty = int((lengths == 0).sum())
    max_length = choose_max_length(lengths[lengths > 0])
    duplicates, conflicting = duplicate_counts(frame, label_column, [text_column])
    counts = frame[label_column].dropna().astype(str).value_counts()
    edges = np.unique(np.percentile(lengths, np.linspace(0, 100, 21)).round())
    histogram = np.histogram(lengths, bins=edges if len(edges) > 1 else 1)
    report.update({
        "text_column": text_column,
        "label_column": label_column,
        "class_counts": {str(k): int(v) for k, v in counts.items()},
        "duplicate_rows": duplicates,
        "conflicting_duplicates": conflicting,
        "empty_texts": empty,
        "words": {"min": int(lengths.min()), "median": float(np.median(lengths)),
                  "p95": float(np.percentile(lengths, 95)), "max": int(lengths.max()),
                  "mean": float(lengths.mean())},
        "length_histogram": {"edges": [float(e) for e in histogram[1]], "counts": [int(c) for c in histogram[0]]},
        "max_length": max_length,
        "longer_than_max": int((lengths > max_length).sum()),
    })
    # The model reads the text column alone: gaps elsewhere change nothing (a missing text is an empty text, below).
    problems = [p for p in missing_problems(report, label_column, roles="text") if p["code"] != "missing"]
    if empty:
        problems.append(problem(
            "empty_texts", "warning", f"{counted(empty, 'row')} with an empty text",
            "The model sees nothing but padding for them, yet is asked to give their label: noise in training.",
            "Drop the rows without text.", [action("Drop rows without text", "drop_empty_texts",
                                                   column=text_column)]))
    problems += duplicate_problems(duplicates, conflicting, inputs="texts")
    problems += class_problems(report["class_counts"], label_column)
    if report["longer_than_max"]:
        problems.append(problem(
            "long_texts", "info",
            f"{report['longer_than_max']:,} texts are longer than {max_length} words",
            f"Only their first {max_length} words are used, which keeps training fast.",
            "Nothing to do, unless the answer usually comes at the end of long texts."))
    for column in frame.columns:
        if column not in (text_column, label_column) and report["types"].get(column) != "date":
            problems.append(problem(
                "unused_column", "info", f"'{column}' is not used",
                "Text models read the text column only.", "Nothing to do."))
    report["problems"] = problems
    return report
