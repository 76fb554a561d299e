"""No raw traceback reaches a page: an unexpected error becomes a plain message and goes to a log."""

from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT


def test_an_unexpected_error_becomes_a_plain_message(home):
    def page():
        import streamlit as st

        from dashboard.components.errors import guarded

        st.write("before")
        with guarded():
            raise ValueError("internal detail")
        st.write("after")

    at = AppTest.from_function(page, default_timeout=30).run()
    assert not at.exception
    assert "Something went wrong" in at.error[0].value and "internal detail" not in at.error[0].value
    assert [m.value for m in at.markdown] == ["before", "after"]
    assert "ValueError: internal detail" in (home / "logs" / "dashboard.log").read_text()
