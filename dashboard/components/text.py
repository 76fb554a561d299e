"""User text on a page or in a figure: shown exactly as written, never read as Markdown or HTML.

Every name, label, column, cell or error message that came from a user (or from a file a user sent) goes
through markdown_safe before st.markdown, st.write, st.caption, st.error and the other calls that read
Markdown, and through figure_safe before it becomes a label, a title or hover text of a Plotly figure."""

from __future__ import annotations

import re

MARKDOWN_SIGNS = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")
# A widget's label reads only inline Markdown (emphasis, code, links, images, formulas); it is also the widget's
# name for screen readers and browser tests, so only those signs are escaped there: "petal length (cm)" stays so.
LABEL_SIGNS = re.compile(r"([\\`*_\[\]~$])")


def markdown_safe(text) -> str:
    """Give back text with every Markdown sign escaped (no links, emphasis, headings or formulas)."""
    return MARKDOWN_SIGNS.sub(r"\\\1", str(text))


def label_safe(text) -> str:
    """Give back text for a widget's label (st.button, st.number_input, st.metric …): shown as written, and
    still read aloud as written."""
    return LABEL_SIGNS.sub(r"\\\1", str(text))


def figure_safe(text) -> str:
    """Give back text that Plotly shows as written: it reads a few HTML tags (<a href>, <b>, <br>) in labels."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
