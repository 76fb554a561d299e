"""Unexpected errors reach the page as a plain message; the details go to a log file, not the screen."""

from __future__ import annotations

import contextlib
import logging
import traceback
from collections.abc import Iterator

import streamlit as st

from db.access import AccessDenied
from db.session import trainyard_home


def _log_path():
    folder = trainyard_home() / "logs"
    folder.mkdir(exist_ok=True)
    return folder / "dashboard.log"


def report_unexpected(error: Exception) -> None:
    """Show a plain message for error and append its traceback to the dashboard's log file."""
    path = _log_path()
    with open(path, "a", encoding="utf-8") as log:
        log.write("".join(traceback.format_exception(error)) + "\n")
    logging.getLogger("trainyard").error("page error: %s", error)
    st.error(
        "Something went wrong while showing this part of the page, and it was stopped. Nothing you "
        "stored is lost, and runs keep training in the background. Reload the page to try again; "
        f"if it happens again, send the file `{path}` to whoever looks after Trainyard."
    )


@contextlib.contextmanager
def guarded() -> Iterator[None]:
    """Run a block of page code; an unexpected error becomes a plain message instead of a traceback."""
    try:
        yield
    except AccessDenied as error:  # the role does not allow it: say so, as the engine words it
        st.error(str(error), icon=":material/lock:")
    except Exception as error:  # Streamlit's own stop/rerun signals are BaseExceptions and pass through
        report_unexpected(error)
