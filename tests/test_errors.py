"""No raw traceback reaches a page: an unexpected error becomes a plain message and goes to a log."""

import pytest
from streamlit.testing.v1 import AppTest



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


@pytest.mark.slow
def test_long_work_shows_a_bar_learns_its_pace_and_hands_back_errors(home):
    import json

    def page():
        import time

        import streamlit as st

        from dashboard.components.progress import run_with_progress

        st.write(run_with_progress("clean", "Cleaning", lambda: (time.sleep(0.6), "done")[1], megabytes=0.5))
        try:
            run_with_progress("export", "Exporting", lambda: 1 / 0)
        except ZeroDivisionError:
            st.write("error handed back")

    at = AppTest.from_function(page, default_timeout=30).run()
    assert not at.exception
    assert [m.value for m in at.markdown] == ["done", "error handed back"]
    rates = json.loads((home / "work_rates.json").read_text())
    assert set(rates) == {"clean"} and rates["clean"][0] < 1.5  # moved towards the 0.6 s it took
