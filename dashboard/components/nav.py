"""Moving between pages while keeping the chosen data set or run in the URL."""

from __future__ import annotations

import streamlit as st


def page(name: str):
    """Give back the st.Page registered by app.py under name (or its file path when run alone)."""
    pages = st.session_state.get("pages") or {}
    return pages.get(name, f"views/{name}.py")


def go(name: str, **query: int | str) -> None:
    st.switch_page(page(name), query_params={k: str(v) for k, v in query.items()})
