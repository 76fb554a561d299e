"""Page layout that reads well on a phone as well as a desktop screen."""

from __future__ import annotations

import streamlit as st

# Streamlit stacks columns one under another below 640 pixels. Short facts and figures (a run's results, its
# overview) stay two abreast there instead, which halves the height they take; charts keep the whole width.
PHONE_STYLE = """<style>
@media (max-width: 640px) {
  [class*="st-key-pairs-"] [data-testid="stColumn"] {
    min-width: calc(50% - 0.5rem) !important;
    flex: 1 1 calc(50% - 0.5rem) !important;
  }
}
</style>"""


def phone_style() -> None:
    """Add the page-wide style for phones (once per page run, from app.py)."""
    st.html(PHONE_STYLE)


def pairs(key: str):
    """Give back a container whose columns go two abreast on a phone rather than one under another."""
    return st.container(key=f"pairs-{key}")
