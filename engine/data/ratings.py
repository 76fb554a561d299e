"""Ratings for recommendations: which columns hold the user, the item, the rating and the time.

Users and items become indices from 1 on, in the order of the training split; index 0 is an unknown
user or item (one that the training split never saw).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from engine.data.columns import duplicate_counts
from engine.data.profile import MIN_ROWS, action, counted, name_words, problem
from engine.data.table_report import missing_problems, table_basics
from engine.errors import DataError

ROLE_NAMES = {
    "user": ("user", "userid", "users", "customer", "customerid", "client", "reader", "member", "person",
             "viewer", "listener", "buyer", "rater", "reviewer"),
    "item": ("item", "itemid", "items", "movie", "movieid", "film", "product", "productid", "book", "bookid",
             "isbn", "song", "track", "artist", "recipe", "restaurant", "business", "game", "anime", "article"),
    "rating": ("rating", "ratings", "score", "stars", "star", "grade", "rate", "vote", "preference"),
    "timestamp": ("timestamp", "time", "date", "datetime", "ts", "ratedat", "createdat", "when"),
}
MIN_USER_RATINGS = 3
# A column naming the items ("title", "movie_title", "product_name"): recommendations show it beside each item's id.
ITEM_NAME_WORDS = ("title", "name", "itemname", "movietitle", "filmtitle", "booktitle", "productname", "songname",
                   "trackname", "label", "description")


def _plain_name(column: str) -> str:
    return re.sub(r"[^a-z]", "", column.lower())


# A word of a column's name names a role when it is one of the role's names (of more than 3 letters), or one with
# an ending such as 'id' or 'name' run on ('username', 'bookISBN' is two words). Not by a word that merely begins with
# one: 'Personal' spending is no person, nor 'Books' bought an item, in a table of colleges. 'rate' names a rating
# only as the whole name: within one it is mostly a rate of something ('interest_rate', 'Grad.Rate').
ROLE_ENDINGS = ("", "s", "id", "ids", "name", "key", "code", "no", "number")
WHOLE_NAME_ONLY = {"rate"}


def _find_role(frame: pd.DataFrame, role: str, taken: set[str]) -> str | None:
    names = ROLE_NAMES[role]
    columns = [c for c in frame.columns if c not in taken]
    for column in columns:
        if _plain_name(column) in names:
            return column
    named = {name + ending for name in names if len(name) > 3 and name not in WHOLE_NAME_ONLY
             for ending in ROLE_ENDINGS}
    for column in columns:  # 'user_name', 'movieTitle', 'star rating', 'username'…
        if any(word in named for word in name_words(column)):
            return column
    return None


def find_rating_columns(frame: pd.DataFrame) -> dict[str, str | None]:
    """Give back {"user", "item", "rating", "timestamp"} column names found by name (None where not)."""
    roles: dict[str, str | None] = {}
    taken: set[str] = set()
    for role in ("rating", "user", "item", "timestamp"):
        roles[role] = _find_role(frame, role, taken)
        if roles[role]:
            taken.add(roles[role])
    if roles["rating"] and not pd.api.types.is_numeric_dtype(frame[roles["rating"]]):
        roles["rating"] = None
    return roles


# A file of ratings with no header row (MovieLens' u.data: user, item, rating, time) is told by its cells: users and
# items, many ids that come back again and again, some users or some items more often than most, nearly every pair
# of them once; then a few marks on a scale of at most 10; then, if a fourth column, times in seconds. A panel of
# measures (a place, each year, a figure) has ids too, but each as often as the next. Without times, small whole
# numbers drawn at random (an age, a count, a class) come back unevenly too, so the busiest user or item must stand
# out as in real ratings: in MovieLens, the busiest user rated 11 times as many films as the middle one, the most
# rated film 20 times as many ratings as the middle one.
FEWEST_IDS = 20
BUSIEST_X_MIDDLE = {4: 1.5, 3: 5}  # by the columns of the file
MOST_REPEATED_PAIRS = 0.05
HIGHEST_MARK = 10
FEWEST_SECONDS = 100_000_000  # a time in seconds since 1970 later than March 1973


def _ratings_by_cells(frame: pd.DataFrame) -> dict[str, str | None] | None:
    """Give back the roles of a table with no header row whose columns read as user, item, rating (and time) in
    that order, else None."""
    if frame.attrs.get("header") != "none" or frame.shape[1] not in (3, 4):
        return None
    columns = list(frame.columns)
    if not all(pd.api.types.is_numeric_dtype(frame[column]) for column in columns):
        return None
    user, item, rating = (frame[column].dropna() for column in columns[:3])
    uneven = False
    for ids in (user, item):
        if not pd.api.types.is_integer_dtype(ids):
            return None
        counts = ids.value_counts()
        if len(counts) < FEWEST_IDS or counts.mean() < MIN_USER_RATINGS:
            return None
        uneven |= counts.iloc[0] >= BUSIEST_X_MIDDLE[len(columns)] * counts.median()
    if not uneven:
        return None
    if frame.duplicated(subset=columns[:2]).mean() > MOST_REPEATED_PAIRS:
        return None
    marks = rating.unique()
    if not (3 <= len(marks) <= 2 * HIGHEST_MARK + 1 and 0 <= marks.min() and marks.max() <= HIGHEST_MARK):
        return None
    if len(columns) == 4:
        times = frame[columns[3]].dropna()
        if not pd.api.types.is_integer_dtype(times) or times.empty or times.min() < FEWEST_SECONDS:
            return None
    return dict(zip(("user", "item", "rating", "timestamp"), columns + [None] * (4 - len(columns)), strict=True))


def ratings_kind_reason(frame: pd.DataFrame, target: str | None = None) -> tuple[dict[str, str | None] | None, str]:
    """Give back (roles, reason) when the table holds ratings of items by users, else (None, reason); a column of
    words chosen as target rules ratings out."""
    if target in frame.columns and not pd.api.types.is_numeric_dtype(frame[target]):
        return None, f"the column to predict, '{target}', holds words, not ratings"
    roles = find_rating_columns(frame)
    if roles["user"] and roles["item"] and roles["rating"]:
        return roles, (f"it has a user column ('{roles['user']}'), an item column ('{roles['item']}') and a "
                       f"rating column ('{roles['rating']}')")
    roles = _ratings_by_cells(frame)
    if roles and target in (None, roles["rating"]):
        times = f", then times ('{roles['timestamp']}')" if roles["timestamp"] else ""
        return roles, (f"its cells look like ratings: ids that come back again and again ('{roles['user']}' users, "
                       f"'{roles['item']}' items), then a few marks from {_marks(frame[roles['rating']])}"
                       f" ('{roles['rating']}'){times}")
    return None, "no user, item and rating columns were found"


def _marks(rating: pd.Series) -> str:
    return f"{rating.min():g} to {rating.max():g}"


def rating_reason(frame: pd.DataFrame, column: str) -> str:
    """Say why a column was taken for the ratings: its name, or in a file with no header row its marks."""
    if frame.attrs.get("header") == "none":
        return f"'{column}' holds a few marks from {_marks(frame[column])}, as ratings do"
    return f"'{column}' is named like a rating"


def id_strings(series: pd.Series) -> pd.Series:
    """Give back ids as text, with whole numbers written without '.0', so '7', 7 and 7.0 match."""
    if pd.api.types.is_float_dtype(series):
        values = series.to_numpy()
        whole = np.isfinite(values) & (np.mod(values, 1) == 0)
        if whole[~np.isnan(values)].all():
            return series.map(lambda v: v if pd.isna(v) else str(int(v))).astype("string")
    return series.astype("string")


def check_ratings(frame: pd.DataFrame, roles: dict[str, str | None]) -> None:
    for role in ("user", "item", "rating"):
        column = roles.get(role)
        if not column:
            raise DataError(f"Choose the column that holds the {role} for each rating.")
        if column not in frame.columns:
            raise DataError(f"There is no column named '{column}'. Choose one of: {', '.join(frame.columns)}.")
    if len({roles["user"], roles["item"], roles["rating"]}) < 3:
        raise DataError("The user, item and rating must be three different columns.")
    rating = frame[roles["rating"]]
    if not pd.api.types.is_numeric_dtype(rating):
        numbers = pd.to_numeric(rating, errors="coerce")
        if numbers.notna().sum() < 0.9 * rating.notna().sum():
            raise DataError(f"The rating column '{roles['rating']}' must hold numbers such as 1 to 5 stars.")
    usable = frame[[roles["user"], roles["item"], roles["rating"]]].dropna()
    if len(usable) < MIN_ROWS:
        raise DataError(f"Only {len(usable)} complete ratings (user, item and rating); at least {MIN_ROWS} are needed.")
    if pd.to_numeric(usable[roles["rating"]], errors="coerce").nunique() < 2:
        raise DataError(f"Every rating in '{roles['rating']}' is the same, so there is nothing to learn. "
                        "Recommendations need ratings that differ.")


def ratings_quality_report(frame: pd.DataFrame, roles: dict[str, str | None]) -> dict[str, Any]:
    """Give back a JSON-able report of a ratings table: users, items, sparsity, rating distribution, problems."""
    user, item, rating = roles["user"], roles["item"], roles["rating"]
    report = table_basics(frame)
    complete = frame[[user, item, rating]].dropna()
    values = pd.to_numeric(complete[rating], errors="coerce")
    users, items = id_strings(complete[user]), id_strings(complete[item])
    n_users, n_items = int(users.nunique()), int(items.nunique())
    per_user = users.value_counts()
    per_item = items.value_counts()
    duplicates, conflicting = duplicate_counts(frame, rating, [user, item])
    distinct = np.sort(values.dropna().unique())
    if len(distinct) <= 20:
        distribution = {f"{v:g}": int(n) for v, n in values.value_counts().sort_index().items()}
    else:
        counts, edges = np.histogram(values.dropna(), bins=10)
        distribution = {f"{edges[i]:.3g} to {edges[i + 1]:.3g}": int(c) for i, c in enumerate(counts)}
    report.update({
        "roles": dict(roles),
        "ratings": int(len(complete)),
        "users": n_users,
        "items": n_items,
        "density": float(len(complete) / max(n_users * n_items, 1)),
        "rating_stats": {"min": float(values.min()), "max": float(values.max()), "mean": float(values.mean()),
                         "std": float(values.std())},
        "rating_distribution": distribution,
        "ratings_per_user": {"min": int(per_user.min()), "median": float(per_user.median()),
                             "max": int(per_user.max())},
        "ratings_per_item": {"min": int(per_item.min()), "median": float(per_item.median()),
                             "max": int(per_item.max())},
        "users_with_few_ratings": int((per_user < MIN_USER_RATINGS).sum()),
        "items_with_one_rating": int((per_item == 1).sum()),
        "duplicate_rows": duplicates,
        "conflicting_duplicates": conflicting,
    })
    report["sparsity"] = 1.0 - report["density"]
    problems = [p for p in missing_problems(report, rating) if p["code"] == "missing_target"
                or any(c in p["title"] for c in (f"'{user}'", f"'{item}'"))]
    for p in problems:  # a rating without its user or item cannot be filled in sensibly
        p["actions"] = [a for a in p["actions"] if a["step"] == "drop_missing"]
        p["effect"] = "Ratings without a user, an item or a value cannot be used; they are left out."
    if duplicates:
        problems.append(problem(
            "duplicates", "warning", f"{counted(duplicates, 'rating')} given twice",
            "Copies can land in both the training and the test split, making the error look smaller than it is.",
            "Drop the duplicate rows.", [action("Drop duplicate rows", "drop_duplicates")]))
    if conflicting:
        problems.append(problem(
            "conflicting_ratings", "warning", f"{conflicting:,} user–item pairs are rated more than once, "
            "with different ratings",
            "The model is asked to predict two values for one pair; it learns their average.",
            "Keep one rating per user and item (for example the latest).",
            [action("Keep the last rating of each pair", "keep_last_rating")]))
    if report["users_with_few_ratings"]:
        share = report["users_with_few_ratings"] / max(n_users, 1)
        problems.append(problem(
            "cold_users", "warning" if share > 0.3 else "info",
            f"{report['users_with_few_ratings']:,} users have fewer than {MIN_USER_RATINGS} ratings",
            "With so few ratings the model knows little of their taste; their predictions fall back to the "
            "average, and some of them appear only in the test split (unknown users).",
            f"Collect more ratings, or drop users with fewer than {MIN_USER_RATINGS}.",
            [action(f"Drop users with fewer than {MIN_USER_RATINGS} ratings", "drop_rare_users",
                    min_count=MIN_USER_RATINGS)]))
    if report["density"] < 0.001:
        problems.append(problem(
            "sparse", "info", f"Only {report['density']:.3%} of all user–item pairs are rated",
            "Very sparse ratings are hard to learn from: most items are seen by few users.",
            "Collect more ratings, or keep the users and items with the most ratings."))
    if len(distinct) > 50:
        problems.append(problem(
            "continuous_ratings", "info", f"The ratings take {len(distinct):,} different values",
            "They are predicted as numbers; that works, but check that the column really holds ratings.",
            "Nothing to do."))
    named = item_name_column(frame, roles)
    if named:
        report["item_name_column"] = named
        problems.append(problem(
            "item_names", "info", f"'{named}' names the items",
            "Recommendations show each item's name from it beside its id.", "Nothing to do."))
    report["problems"] = problems
    return report


def item_name_column(frame: pd.DataFrame, roles: dict[str, str | None]) -> str | None:
    """Give back the column that names the items — called like a title or a name, holding text, one name per item
    (for at least 95 % of items) — or None when the table has none."""
    taken = {column for column in roles.values() if column}
    for column in frame.columns:
        if column in taken or not any(_plain_name(column) == word or _plain_name(column).endswith(word)
                                      for word in ITEM_NAME_WORDS):
            continue
        values = frame[column]
        if pd.api.types.is_numeric_dtype(values) or values.notna().mean() < 0.5:
            continue
        names_per_item = frame.groupby(id_strings(frame[roles["item"]]))[column].nunique()
        if len(names_per_item) and (names_per_item <= 1).mean() >= 0.95:
            return column
    return None


def item_names(train: pd.DataFrame, roles: dict[str, str | None], items: list[str]) -> tuple[str, list[str]] | None:
    """Give back (the name column, each item's name in the order of items; its id where it has none), or None."""
    column = item_name_column(train, roles)
    if column is None:
        return None
    named = train[[roles["item"], column]].dropna()
    first = named.groupby(id_strings(named[roles["item"]]))[column].first().astype(str)
    return column, [first.get(item, item) for item in items]


def fit_ratings(train: pd.DataFrame, roles: dict[str, str | None]) -> dict[str, Any]:
    """Learn the user and item lists and the rating scale from the training ratings; give back a JSON-able dict."""
    values = pd.to_numeric(train[roles["rating"]], errors="coerce").astype(float)
    users, items = id_strings(train[roles["user"]]).value_counts(), id_strings(train[roles["item"]]).value_counts()
    users, items = users.sort_index(), items.sort_index()
    names = item_names(train, roles, items.index.tolist())
    return ({"item_name_column": names[0], "item_names": names[1]} if names else {}) | {
        "kind": "ratings", "task": "rating",
        "user_column": roles["user"], "item_column": roles["item"], "rating_column": roles["rating"],
        "timestamp_column": roles.get("timestamp"),
        "users": users.index.tolist(), "items": items.index.tolist(),
        # Ratings per user and per item: a factorisation pulls those seen rarely towards the average.
        "user_counts": users.astype(int).tolist(), "item_counts": items.astype(int).tolist(),
        "target_mean": float(values.mean()), "target_std": float(values.std(ddof=0)) or 1.0,
        "rating_min": float(values.min()), "rating_max": float(values.max()),
    }


def encode_pairs(users: pd.Series, items: pd.Series, prep: dict[str, Any]) -> np.ndarray:
    """Give back int64 (N, 2) [user index, item index]; 0 for an id the training split never saw."""
    user_codes = pd.Index(prep["users"]).get_indexer(id_strings(pd.Series(users).reset_index(drop=True)))
    item_codes = pd.Index(prep["items"]).get_indexer(id_strings(pd.Series(items).reset_index(drop=True)))
    return np.stack([user_codes.astype(np.int64) + 1, item_codes.astype(np.int64) + 1], axis=1)
