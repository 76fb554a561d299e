"""Start here: the four steps from a file to a trained model, and where the user stands."""

import streamlit as st

from dashboard.components import state
from dashboard.components.nav import page

st.title("Trainyard")
st.caption("Train neural networks on your own data, without writing code.")

datasets = state.datasets()
runs = state.runs(limit=200)
finished = [r for r in runs if r["status"] == "completed"]

steps = [
    ("1. Upload", "Add a table (CSV, Excel or Parquet), or try a sample.", len(datasets) > 0, "datasets",
     f"{len(datasets)} data set(s)"),
    ("2. Check", "Look at the quality report: missing values, duplicates, class balance.", len(datasets) > 0,
     "datasets", "Open a data set to see its report"),
    ("3. Train", "Pick a model and its settings, then press Train. It trains in the background.", len(runs) > 0,
     "new_run", f"{len(runs)} run(s)"),
    ("4. Results", "Watch the curves live and compare finished runs.", len(finished) > 0, "runs",
     f"{len(finished)} finished"),
]
columns = st.columns(4)
for column, (title, text, done, target, status) in zip(columns, steps):
    with column.container(border=True):
        st.markdown(f"**{title}** {'✅' if done else ''}")
        st.write(text)
        st.caption(status)
        st.page_link(page(target), label="Go", icon=":material/arrow_forward:")

next_step = next((s for s in steps if not s[2]), None)
if next_step:
    st.info(f"Next: **{next_step[0][3:]}** — {next_step[1]}")
else:
    st.success("You have a trained model. Open **Runs** to compare your results, or train another.")
