"""Reading a table a user brought: CSV/TSV in any common delimiter and encoding, Excel, Parquet, JSON."""

from __future__ import annotations

import csv
import re
import tempfile
import warnings
from itertools import takewhile
from pathlib import Path

import pandas as pd
from pandas.io.excel._openpyxl import OpenpyxlReader

from engine.data.limits import check_table_size, max_table_cells, max_table_rows, rows_fitting
from engine.data.profile import MIN_MEAN_WORDS
from engine.errors import DataError

TABLE_SUFFIXES = {".csv", ".tsv", ".txt", ".xlsx", ".xls", ".parquet", ".pq", ".json", ".jsonl", ".ndjson"}
JSON_SUFFIXES = {".json", ".jsonl", ".ndjson"}
TABLE_FILES = "CSV, TSV, Excel, Parquet or JSON"  # the kinds of file a table may come in, in words
ENCODINGS = ("utf-8-sig", "cp1252", "latin-1")
ENCODING_WORDS = {"cp1252": "Windows Western European text (cp1252)", "latin-1": "Western European text (Latin-1)"}
DELIMITERS = ",;\t|"
HEAD_BYTES = 1 << 16
# Numbers written for people, which pandas leaves as text: with a decimal comma (3,5 or 1.234,56 or 1 234,56), as
# spreadsheets save them where a comma marks the decimals, with commas between thousands (1,234.5), as a quoted cell
# of a comma-separated file holds them, or with a currency or percent sign ($12.50, 45 %, 12,50 €).
DECIMAL_COMMA, THOUSANDS_COMMAS, SIGNS, EMPTY = "decimal comma", "thousands commas", "signs", "empty marks"
WRITTEN_WAYS = {  # a way: (the number's pattern, what parts its thousands, what marks its decimals)
    DECIMAL_COMMA: (r"[+-]?(?:[0-9]{1,3}(?:[. \u00a0\u202f][0-9]{3})+|[0-9]+)(?:,[0-9]+)?(?:[eE][+-]?[0-9]+)?",
                    ".", ","),
    THOUSANDS_COMMAS: (r"[+-]?(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?", ",", "."),
}
CURRENCIES = "$€£¥"
SIGN_CHARACTERS = CURRENCIES + "%"
SIGNED = rf"(?:[+-]?\s*[{re.escape(CURRENCIES)}]\s*)?{{number}}\s*[{re.escape(SIGN_CHARACTERS)}]?"  # -$12, 12 €, 45 %
# Marks for an empty cell that pandas reads as text (it knows NA, n/a, NULL and the like): the question mark of many
# public data sets, dashes and a dot.
EMPTY_MARKS = ("?", "-", "--", "–", "—", ".", "n.a.")
WRITTEN_SAMPLE = 1000  # cells of a text column tried first, before all of them
# Dates written as text: a year first (2016-07-02, 2016/07/02, 2016-07, as ISO 8601 and databases write them) or
# last (7/2/2016, 02.07.2016, 2/7/16), perhaps with a time of day (13:40, 13:40:36, T13:40:36Z).
DATE_TEXT = re.compile(r"(?:[0-9]{4}[-/.][0-9]{1,2}(?:[-/.][0-9]{1,2})?"
                       r"|[0-9]{1,2}[-/.][0-9]{1,2}[-/.](?:[0-9]{4}|[0-9]{2}))"
                       r"(?:[ T][0-9]{1,2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?(?: ?[AaPp][Mm])?)?"
                       r"(?:Z|[+-][0-9]{2}:?[0-9]{2})?")
# The ways a date with its year last is written, month or day first; a file parted by semicolons, as spreadsheets
# write them where the day comes first, tries the day first.
MONTH_FIRST = ("%m/%d/%Y", "%m-%d-%Y", "%m/%d/%y")
DAY_FIRST = ("%d/%m/%Y", "%d.%m.%Y", "%d-%m-%Y", "%d/%m/%y", "%d.%m.%y")
YEAR_FIRST = ("%Y/%m/%d", "%Y.%m.%d")
TIMES_OF_DAY = ("", " %H:%M", " %H:%M:%S", " %I:%M %p", " %I:%M:%S %p")
# pandas reads a large CSV in pieces side by side and then joins them: 1,000,000 rows (169 MB) in 0.85 s on 2 cores,
# peaking at 2.8 times the file's size, where reading it from start to end takes 1.4 times as long and peaks at 1.8
# times. A file whose side-by-side read would take more than half the memory free is read from start to end.
PIECES_PEAK = 2.8
# The most memory a CSV read whole may take, per byte of the file, whatever its rows hold: a cell of one digit and
# its comma (2 bytes) becomes 8 bytes of number, read in pieces side by side.
WHOLE_READ_PEAK = 4 * PIECES_PEAK


def _looks_binary(head: bytes) -> bool:
    if not head:
        return False
    if b"\x00" in head:
        return True
    controls = sum(1 for byte in head if byte < 9 or 13 < byte < 32)
    return controls / len(head) > 0.05


def _decode(raw: bytes) -> tuple[str, str]:
    """Give back (text, encoding) for the first encoding that decodes raw."""
    for encoding in ENCODINGS:
        try:
            return raw.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise DataError("The file's text encoding could not be recognised. Save it as UTF-8 and upload it again.")


def _head_text(head: bytes) -> tuple[str, str]:
    # A multi-byte character may be cut at the end of the sample: drop the last, partial line.
    if len(head) == HEAD_BYTES and b"\n" in head:
        head = head[: head.rindex(b"\n")]
    return _decode(head)


def _delimiter(sample: str) -> str:
    """Give back the separator used in sample: Sniffer first, then the most regular candidate."""
    lines = [line for line in sample.splitlines()[:50] if line.strip()]
    try:
        found = csv.Sniffer().sniff("\n".join(lines), delimiters=DELIMITERS).delimiter
        if found in DELIMITERS:
            return found
    except csv.Error:
        pass
    # The same count on every line is the best sign of a separator.
    best, best_score = ",", 0
    for candidate in DELIMITERS:
        counts = [line.count(candidate) for line in lines]
        if counts and min(counts) > 0:
            score = min(counts) * (2 if len(set(counts)) == 1 else 1)
            if score > best_score:
                best, best_score = candidate, score
    fields = {len(line.split()) for line in lines}
    if best_score == 0 and len(fields) == 1 and fields.pop() > 1:
        return r"\s+"  # columns lined up with spaces
    return best


# Lines above a table's header that may be notes (a title, a source, a date, lines starting with #), at most.
MOST_NOTE_LINES = 10


def _lines_before_table(head_lines: list[str], delimiter: str) -> int:
    """Give back how many of a file's first lines are notes above the table: lines starting with '#', and lines
    (blank ones too) of two cells fewer than the header below them at least, where the lines below it nearly all
    have as many cells as it does. 0 where the table starts at once, or its rows are not regular enough to tell. (A
    header of one cell fewer than its rows is R's write.table, whose rows start with their names: no note.)"""
    lines = head_lines[:200]
    if len(delimiter) != 1 or len(lines) < 3:
        return 0
    cells = [len(next(csv.reader([line], delimiter=delimiter), [])) for line in lines]
    for start in range(1, min(MOST_NOTE_LINES, len(lines) - 2) + 1):
        width, below = cells[start], [n for n, line in zip(cells[start:], lines[start:]) if line.strip()]
        regular = width >= 2 and sum(n == width for n in below) >= 0.9 * len(below)
        notes = all(n <= width - 2 or line.lstrip().startswith("#") for n, line in zip(cells[:start], lines[:start]))
        if regular and notes:
            return start
    return 0


# The name pandas gives a first column with an empty header: where a program wrote its row numbers (pandas' to_csv
# and to_excel, R's write.csv).
ROW_NUMBER_NAMES = ("", "Unnamed: 0")


def without_row_numbers(frame: pd.DataFrame) -> pd.DataFrame:
    """Give back frame without a first column that only numbers its rows: no name, and a different whole number in
    every row, counted from 0 or 1, as pandas and R write their row numbers when saving a table (years in a column
    with no name are kept). A model that read it would learn where a row stood in the file (in a file sorted by its
    answer, the answer itself), which tells nothing of a new row. frame.attrs["row_numbers"] says from which number
    to which, for the report."""
    first = frame.columns[0] if frame.shape[1] > 2 else None  # two columns are left at least
    if first not in ROW_NUMBER_NAMES or not pd.api.types.is_integer_dtype(frame[first]):
        return frame
    numbers = frame[first]
    if numbers.min() not in (0, 1) or not numbers.is_unique:
        return frame
    out = frame.drop(columns=[first])
    out.attrs = {**frame.attrs, "row_numbers": [int(numbers.min()), int(numbers.max())]}
    return out


def read_table(path: str | Path, original_name: str | None = None, fewest_columns: int = 2) -> pd.DataFrame:
    """Give back the table in the file at path, or raise DataError saying in plain words what is wrong.

    A table to train on needs two columns at least (inputs and an answer); rows to predict may have just one
    (fewest_columns=1), such as a column of texts."""
    path = Path(path)
    name = original_name or path.name
    suffix = Path(name).suffix.lower()
    if not path.exists() or path.stat().st_size == 0:
        raise DataError(f"'{name}' is empty. Choose a file that contains a table with a header row.")
    if suffix in (".parquet", ".pq"):
        frame = _read_parquet(path, name)
    elif suffix in (".xlsx", ".xls"):
        frame = _read_excel(path, name, suffix)
    elif suffix in JSON_SUFFIXES:
        frame = _read_json(path, name)
    else:
        frame = _read_text_table(path, name, suffix, fewest_columns)
    check_table_size(len(frame), frame.shape[1], name)
    frame.columns = [str(column).strip() for column in frame.columns]
    if frame.empty or len(frame.columns) == 0:
        raise DataError(f"'{name}' has a header but no rows. Add data rows below the header.")
    if len(set(frame.columns)) != len(frame.columns):
        raise DataError(f"'{name}' has two columns with the same name. Give every column its own name.")
    frame.attrs["file_name"] = name  # what the table is about, to find its answer by (engine.data.profile)
    return _tidy(frame)


def _read_parquet(path: Path, name: str) -> pd.DataFrame:
    import pyarrow.parquet as pq

    try:
        # The footer says how many rows the file unpacks to: a small file can hold millions.
        metadata = pq.ParquetFile(path).metadata
    except Exception:
        raise DataError(f"'{name}' is not a readable Parquet file. Export it again, or save it as CSV.") from None
    check_table_size(metadata.num_rows, metadata.num_columns, name)
    try:
        return pd.read_parquet(path)
    except Exception:
        raise DataError(f"'{name}' is not a readable Parquet file. Export it again, or save it as CSV.") from None


def _read_json(path: Path, name: str) -> pd.DataFrame:
    """Read a table from JSON: a list of records, one record per line (JSON Lines), an object of columns, or what
    pandas writes (to_json in its ways), perhaps within an object ({"data": [...]}). A record within a record gives
    columns named outer.inner; a list in a cell becomes its items parted by commas."""
    import json

    unreadable = (f"'{name}' is not a table in JSON. Trainyard reads a list of records ([{{...}}, {{...}}]), one "
                  "record per line, or an object of columns; save it so, or as CSV.")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise DataError(f"'{name}' is not written as UTF-8 text, as JSON is. Save it again with the encoding UTF-8, "
                        "or as CSV.") from None
    try:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as whole:
            data, broken = _json_lines(text)
            if broken is not None:  # where not even the first line is a record, a single document is broken
                where = f"line {broken if data else whole.lineno:,} is not a whole record"
                raise DataError(unreadable.replace(". Trainyard", f" ({where}). Trainyard", 1)) from None
    except RecursionError:
        raise DataError(unreadable) from None
    del text
    frame = _json_table(data)
    del data
    if frame is None or frame.empty:
        raise DataError(unreadable)
    check_table_size(len(frame), frame.shape[1], name)
    for column in frame.columns:
        if frame[column].dtype == object and frame[column].map(lambda cell: isinstance(cell, list)).any():
            frame[column] = frame[column].map(
                lambda cell: ", ".join(map(str, cell)) if isinstance(cell, list) else cell)
    _written_dates(frame, ",")
    return frame


def _json_lines(text: str) -> tuple[list, int | None]:
    """Give back the records of JSON Lines, and the number of the first line that is not one (None if all are)."""
    import json

    records = []
    for number, line in enumerate(text.split("\n"), 1):  # not splitlines: a text may hold a line separator
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                return records, number
    return records, None


def _json_table(data) -> pd.DataFrame | None:
    """Give back the table JSON data holds, or None."""
    if isinstance(data, dict):
        if isinstance(data.get("columns"), list) and isinstance(data.get("data"), list):  # to_json(orient="split")
            try:
                return pd.DataFrame(data["data"], columns=data["columns"])
            except (ValueError, TypeError):
                return None
        if isinstance(data.get("schema"), dict) and isinstance(data.get("data"), list):  # to_json(orient="table")
            frame = _json_table(data["data"])
            numbered = [key for key in data["schema"].get("primaryKey") or [] if key == "index"]
            return None if frame is None else frame.drop(columns=numbered, errors="ignore")
        values = list(data.values())
        columns = values and all(isinstance(value, list) for value in values) and len(set(map(len, values))) == 1
        if columns and not (values[0] and isinstance(values[0][0], dict)):
            return pd.DataFrame(data)  # an object of columns
        if values and all(isinstance(value, dict) for value in values):  # to_json(): columns, or rows by index
            if all(is_number(key) for key in data) and not all(is_number(key) for key in values[0]):
                return pd.json_normalize(values)  # to_json(orient="index")
            return pd.DataFrame.from_dict(data).reset_index(drop=True)
        held = [value for value in values if isinstance(value, list) and value and isinstance(value[0], dict)]
        data = held[0] if len(held) == 1 else [data]  # {"data": [...]}, or a single record
    if isinstance(data, list) and data and all(isinstance(record, dict) for record in data):
        return pd.json_normalize(data)
    return None


def _read_excel(path: Path, name: str, suffix: str) -> pd.DataFrame:
    unreadable = (f"'{name}' is not a readable Excel workbook. Open it in Excel and save it again as .xlsx, or save "
                  "it as CSV.")
    if suffix == ".xls":
        try:
            return pd.read_excel(path)  # the old format holds at most 65,536 rows of 256 columns
        except Exception:
            raise DataError(unreadable) from None
    try:
        reader = LimitedExcelReader(str(path), name)
    except DataError:
        raise
    except Exception:
        raise DataError(unreadable) from None
    try:
        sheet, names = _largest_sheet(reader.book)
        frame = reader.parse(sheet_name=sheet)
    except DataError:
        raise
    except Exception:
        raise DataError(unreadable) from None
    finally:
        reader.close()
    if len(names) > 1:
        frame.attrs["sheet"] = [sheet, names]  # said in the report
    return frame


def _largest_sheet(book) -> tuple[str, list[str]]:
    """Give back the name of the workbook's sheet to read, the one of most cells as Excel counts them (a first sheet
    of notes or contents comes before the data in many published workbooks), and the names of its visible sheets."""
    sheets = [sheet for sheet in book.worksheets if sheet.sheet_state == "visible"] or book.worksheets
    sizes = [(sheet.max_row or 0) * (sheet.max_column or 0) for sheet in sheets]
    return sheets[sizes.index(max(sizes))].title, [sheet.title for sheet in sheets]


class LimitedExcelReader(OpenpyxlReader):
    """pandas' own .xlsx reader (so cells read as before), its sheets counted as they stream (pandas 3.1)."""

    def __init__(self, path: str, name: str) -> None:
        self.table_name = name
        super().__init__(path)

    def get_sheet_by_index(self, index: int):
        return _CountedSheet(super().get_sheet_by_index(index), self.table_name)

    def get_sheet_by_name(self, name: str):
        return _CountedSheet(super().get_sheet_by_name(name), self.table_name)


class _CountedSheet:
    """A read-only worksheet whose rows stop with a DataError once the table is over the row or cell limit.

    The declared size is checked first (Excel writes it; refused at once), then the real one while reading,
    because a hand-made file may declare less than it holds."""

    def __init__(self, sheet, name: str) -> None:
        object.__setattr__(self, "_sheet", sheet)
        object.__setattr__(self, "_name", name)
        rows, columns = sheet.max_row, sheet.max_column
        if rows and columns:
            check_table_size(max(rows - 1, 0), columns, name)  # the first row is the header

    def __getattr__(self, key):
        return getattr(self._sheet, key)

    def __setattr__(self, key, value) -> None:
        setattr(self._sheet, key, value)

    @property
    def rows(self):
        most_rows, most_cells = max_table_rows(), max_table_cells()
        cells = width = 0
        for number, row in enumerate(self._sheet.rows):
            if number:  # the header's cells are names, not data
                cells += len(row)
                width = max(width, len(row))
                if number > most_rows or cells > most_cells:
                    check_table_size(number, width, self._name, at_least=True)
            yield row


def _tidy(frame: pd.DataFrame) -> pd.DataFrame:
    """Make columns that mix numbers and words hold text only, so every column has one type."""
    for column in frame.columns:
        series = frame[column]
        if series.dtype == object:
            kinds = series.dropna().map(type).unique()
            if len(kinds) > 1 or (len(kinds) == 1 and kinds[0] is not str):
                frame[column] = series.map(lambda v: v if pd.isna(v) else str(v)).astype("string")
    return frame


def _read_text_table(path: Path, name: str, suffix: str, fewest_columns: int) -> pd.DataFrame:
    with open(path, "rb") as handle:
        head = handle.read(HEAD_BYTES)
    if _looks_binary(head):
        raise DataError(
            f"'{name}' does not look like a CSV table (it contains binary data). "
            f"Export your table as {TABLE_FILES} and upload that."
        )
    text_head, encoding = _head_text(head)
    if not text_head.strip():
        raise DataError(f"'{name}' is empty. Choose a file that contains a table with a header row.")
    head_lines = text_head.splitlines()
    comments = len(list(takewhile(lambda line: line.lstrip().startswith("#"), head_lines)))
    delimiter = "\t" if suffix == ".tsv" else _delimiter("\n".join(head_lines[comments:]))
    skip = _lines_before_table(head_lines, delimiter)
    notes = {"skiprows": skip} if skip else {}
    try:
        try:
            frame = _read_csv(path, delimiter, encoding, name, **notes)
        except UnicodeDecodeError:
            # The sample was clean but a later line is not: a legacy Windows file, most likely.
            encoding = "cp1252" if encoding == "utf-8-sig" else "latin-1"
            frame = _read_csv(path, delimiter, encoding, name, **notes)
    except UnicodeDecodeError:
        encoding = "latin-1"
        frame = _read_csv(path, delimiter, encoding, name, **notes)
    except pd.errors.ParserError as error:
        detail = str(error).strip().split("\n")[-1].removeprefix("Error tokenizing data. C error: ")
        raise DataError(
            f"'{name}' has rows with a different number of cells than its header ({detail}). "
            "Fix those rows, or check that every row uses the same separator."
        ) from None
    except pd.errors.EmptyDataError:
        raise DataError(f"'{name}' is empty. Choose a file that contains a table with a header row.") from None
    if not isinstance(frame.index, pd.RangeIndex):  # pandas made the surplus cells an index
        raise DataError(
            f"'{name}' has {frame.shape[1]} names in its first row but {frame.shape[1] + frame.index.nlevels} "
            "cells in the rows below. The first row should name every column; it may hold a description "
            "instead. Replace it with one name per column."
        )
    numbers = all(is_number(column) for column in frame.columns)
    value = None if numbers else _header_value(frame)
    if numbers or value:
        # Every name is a number, or a value of its column or a sentence atop sentences: the file has no header row,
        # and its first row is data.
        names = [f"column {i + 1}" for i in range(frame.shape[1])]
        frame = _read_csv(path, delimiter, encoding, name, header=None, names=names, **notes)
        frame.attrs["header"] = "none"
        if value:
            frame.attrs["first_row_value"] = value  # said in the report
    frame.attrs["encoding"] = encoding  # said in the report when it is not UTF-8
    if skip:
        notes_above = [line.strip() for line in head_lines[:skip] if line.strip()]
        frame.attrs["notes_above"] = [skip + 1, notes_above]  # the header's line, and the notes: said in the report
    written = _written_numbers(frame, delimiter)
    if written:
        frame.attrs["written_numbers"] = written  # said in the report
    _written_dates(frame, delimiter)
    if frame.shape[1] < fewest_columns and frame.shape[0] > 0:
        raise DataError(
            f"'{name}' has only one column. A training table needs input columns and a column to predict; "
            "check that its cells are separated by commas, semicolons or tabs."
        )
    return frame


def _written_numbers(frame: pd.DataFrame, delimiter: str) -> dict[str, list[str]]:
    """Read as numbers the text columns whose every cell is a number written for people (WRITTEN_WAYS) or a mark
    for an empty cell (EMPTY_MARKS); give back {column: the ways its numbers were written}.

    A cell like 1,234 reads either way. A file parted by semicolons is read with decimal commas first, as the
    spreadsheets that write such files do (1,234 is 1.234); one parted by commas only with commas between
    thousands (1,234 is 1234); any other with commas between thousands first, then decimal commas. A percentage
    keeps its figure (45 % is 45). A cell that is no number (3,5 kg, n/a) leaves its column as text."""
    order = {";": [DECIMAL_COMMA, THOUSANDS_COMMAS], ",": [THOUSANDS_COMMAS]}.get(
        delimiter, [THOUSANDS_COMMAS, DECIMAL_COMMA])
    read = {}
    for column, series, cells, sample in _text_columns(frame):
        if not _may_be_numbers(sample):
            continue  # most text columns are ruled out by their first cells
        cells = cells.str.strip()
        marked = cells.isin(EMPTY_MARKS)
        if marked.all():
            continue
        found = _numbers_written(cells[~marked], order)
        if found is None and marked.any():  # plain numbers beside marks for empty cells
            plain = pd.to_numeric(cells[~marked], errors="coerce")
            found = (plain.astype(float), []) if plain.notna().all() else None
        if found is not None:
            numbers, ways = found
            frame[column] = numbers.reindex(series.index)
            read[str(column).strip()] = ways + [EMPTY] * bool(marked.any())
    return read


def _header_value(frame: pd.DataFrame) -> str | None:
    """Give back a name of the header row that is also a value further down its column ('spam' atop a column of spam
    and ham), where each other name is a number or a sentence atop a column of sentences: the first row of a file
    with no header row, such as a file of labelled messages. Else None: names of columns, even long questions."""
    value = None
    for column in frame.columns:
        name = str(column).strip()
        series = frame[column]
        if is_number(name):
            continue
        if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
            return None
        if value is None and series.isin([name]).any():
            value = name
            continue
        sample = series.dropna().iloc[:WRITTEN_SAMPLE].astype(str)
        if len(name.split()) < 2 or sample.empty or sample.str.split().str.len().mean() < MIN_MEAN_WORDS:
            return None
    if value is not None and _header_again(frame):
        return None  # two files joined, each with its header: a header all the same
    return value


def _header_again(frame: pd.DataFrame) -> bool:
    """Whether a row further down holds every name of the header row."""
    again = pd.Series(True, index=frame.index)
    for column in frame.columns:
        again &= frame[column].astype(str).str.strip() == str(column).strip()
        if not again.any():
            return False
    return True


def _text_columns(frame: pd.DataFrame):
    """Give back (name, column, its filled cells, its first WRITTEN_SAMPLE of them) for each column of text."""
    for column in frame.columns:
        series = frame[column]
        if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
            continue
        cells = series.dropna()
        sample = cells.iloc[:WRITTEN_SAMPLE]
        if not cells.empty and all(isinstance(cell, str) for cell in sample):
            yield column, series, cells, sample


def _written_dates(frame: pd.DataFrame, delimiter: str) -> None:
    """Read as dates (and times) the text columns whose every cell is a date written in one way (DATE_TEXT), so that
    a model can read a date's moment, month and day of the week; times with a zone are read in UTC. A column with a
    cell of any other kind is left as text."""
    for column, series, cells, sample in _text_columns(frame):
        if not sample.str.strip().str.fullmatch(DATE_TEXT).all():
            continue
        dates = _dates_written(cells.str.strip(), delimiter)
        if dates is not None:
            frame[column] = dates.reindex(series.index)


def _dates_written(cells: pd.Series, delimiter: str) -> pd.Series | None:
    """Give back the cells as dates in the first way that reads them all, or None when none does. Each different
    cell is read once: a column of a million rows often holds a few thousand days."""
    codes, written = pd.factorize(cells)
    written = pd.Series(written)
    if written.str.match(r"[0-9]{4}-").all():
        ways = ["ISO8601"]
    else:
        ends = DAY_FIRST + MONTH_FIRST if delimiter == ";" else MONTH_FIRST + DAY_FIRST
        ways = [day + time for day in YEAR_FIRST + ends for time in TIMES_OF_DAY]
    sample = written.iloc[:WRITTEN_SAMPLE]
    for way in ways:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                if pd.to_datetime(sample, format=way, errors="coerce", utc=True).isna().any():
                    continue
                dates = pd.to_datetime(written, format=way, errors="coerce", utc=True)
            except (ValueError, OverflowError):
                continue
        if dates.notna().all():
            return pd.Series(dates.dt.tz_convert(None).to_numpy()[codes], index=cells.index)
    return None


def _may_be_numbers(sample: pd.Series) -> bool:
    """Give back whether a text column's first cells could all be numbers, written for people or plainly, or marks
    for an empty cell."""
    given = sample.str.strip()
    given = given[~given.isin(EMPTY_MARKS)]
    if given.empty or pd.to_numeric(given, errors="coerce").notna().all():
        return True
    return any(given.str.fullmatch(SIGNED.format(number=number)).all() for number, _, _ in WRITTEN_WAYS.values())


def _numbers_written(cells: pd.Series, order: list[str]) -> tuple[pd.Series, list[str]] | None:
    """Give back (the numbers, the ways they were written) of cells that are all numbers written for people, or
    None."""
    commas = bool(cells.str.contains(",", regex=False).any())
    signs = bool(cells.str.contains(f"[{re.escape(SIGN_CHARACTERS)}]").any())
    for way in order:
        if way == DECIMAL_COMMA and not commas:
            continue  # no comma at all: its dots are decimal points, as the next way reads them
        number, grouping, decimal = WRITTEN_WAYS[way]
        if not cells.str.fullmatch(SIGNED.format(number=number)).all():
            continue
        if not (commas or signs):
            return None  # plain numbers that pandas left as text for a reason of its own
        bare = cells
        for character in SIGN_CHARACTERS + " \u00a0\u202f":
            bare = bare.str.replace(character, "", regex=False)
        bare = bare.str.replace(grouping, "", regex=False).str.replace(decimal, ".", regex=False)
        numbers = pd.to_numeric(bare, errors="coerce").astype(float)
        if numbers.isna().any():
            return None  # digits Python does not read as a number
        return numbers, [way] * commas + [SIGNS] * signs
    return None


def most_lines(path: Path) -> int:
    """Give back how many lines the file has at most (its line breaks, counted in blocks, plus one): a table has no
    more rows than that, as a quoted cell across lines only makes fewer."""
    breaks, returns = 0, 0
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 24), b""):
            breaks += block.count(b"\n")
            returns += block.count(b"\r")
    return max(breaks, returns) + 1


def free_memory() -> int:
    """Give back the bytes of memory free for use now."""
    import psutil

    return psutil.virtual_memory().available


def _read_csv(path: Path, delimiter: str, encoding: str, name: str, **options) -> pd.DataFrame:
    """Give back the CSV table, reading one row past the row and cell limits at most, and refusing it then."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pd.errors.DtypeWarning)  # mixed columns are made text in _tidy
        header = pd.read_csv(path, sep=delimiter, encoding=encoding, engine="c", nrows=0, **options)
        columns = max(1, header.shape[1])
        fitting = rows_fitting(columns)
        # Reading with a row limit takes pandas twice as long, so it is set only when the file has lines enough
        # to pass it and reading it whole to find out might not fit in the memory free. A row takes a byte per
        # column at least (its separators and its line break), so a file of fewer bytes than that many rows need
        # has no lines to count; counting those of 1,000,000 rows (177 MB) took 0.25 s of a 1.5 s import.
        size, free = path.stat().st_size, free_memory()
        may_pass = size > fitting * columns and WHOLE_READ_PEAK * size > free / 2 and most_lines(path) > fitting
        limit = {"nrows": fitting + 1} if may_pass else {}
        with pd.option_context("mode.max_threads", None if PIECES_PEAK * size < free / 2 else 1):
            frame = pd.read_csv(path, sep=delimiter, encoding=encoding, engine="c", **limit, **options)
    if len(frame) > fitting:
        check_table_size(len(frame), frame.shape[1], name, at_least=bool(limit))
    return frame


def is_number(text: str) -> bool:
    """Whether text reads as a number (a header of numbers is no header)."""
    try:
        float(str(text))
    except ValueError:
        return False
    return True


def frame_from_bytes(data: bytes, name: str) -> pd.DataFrame:
    """Read a table from bytes in memory (used for label files inside archives and for tests)."""
    with tempfile.NamedTemporaryFile(suffix=Path(name).suffix) as handle:
        handle.write(data)
        handle.flush()
        return read_table(handle.name, original_name=name)
