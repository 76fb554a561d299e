"""Start here: the four steps from a file to a trained model, where the user stands, and one-click samples."""

import streamlit as st

from db import repo
from dashboard.components import state
from dashboard.components.nav import go, page
from dashboard.components.text import markdown_safe
from db.models import RunStatus
from engine.data.samples import SAMPLES, add_sample

KIND_WORDS = {"tabular": "a table", "image": "pictures", "text": "texts", "ratings": "ratings"}
SAMPLE_PER_KIND = [("tabular", "iris", ":material/table_chart:"), ("image", "digits", ":material/image:"),
                   ("text", "reviews", ":material/article:"), ("ratings", "films", ":material/star:")]

st.title("Trainyard")
st.caption("Train neural networks on your own data, without writing code.")

datasets = state.datasets()
runs = state.runs(limit=200)
finished = [r for r in runs if r["status"] == RunStatus.COMPLETED]
latest_dataset = datasets[0] if datasets else None
latest_run = runs[0] if runs else None

steps = [
    ("Upload", "Add a table, a ZIP of pictures, texts or ratings — or try a sample below.",
     bool(datasets), "datasets", {}, f"{len(datasets)} data set(s) so far"),
    ("Check", "Read the quality report and fix problems in one click.",
     bool(datasets), "datasets", {"dataset": latest_dataset["id"]} if latest_dataset else {},
     f"Latest: {markdown_safe(latest_dataset['name'])}" if latest_dataset else "Needs a data set first"),
    ("Train", "Pick a model and press Train; it learns in the background.",
     bool(runs), "new_run", {"dataset": latest_dataset["id"]} if latest_dataset else {},
     f"{len(runs)} run(s) so far"),
    ("Results", "Watch it learn, see how good it is, and try it on new data.",
     bool(finished), "run", {"run": finished[0]["id"]} if finished else {},
     f"{len(finished)} finished" if finished else "Nothing finished yet"),
]
next_index = next((i for i, step in enumerate(steps) if not step[2]), None)
for i, (column, (title, text, done, target, query, status)) in enumerate(zip(st.columns(4), steps)):
    with column.container(border=True):
        mark = "✅" if done else ("👉" if i == next_index else "")
        st.markdown(f"**{i + 1}. {title}** {mark}")
        st.write(text)
        st.caption(status)
        st.page_link(page(target), label="Go", icon=":material/arrow_forward:", query_params=query)

if next_index is None:
    st.success("You have a trained model. Open **Runs** to compare results, or train another model.")
else:
    title, text = steps[next_index][0], steps[next_index][1]
    st.info(f"Next: **{title}** — {text}")

if latest_run:
    words = state.STATUS_WORDS.get(latest_run["status"], latest_run["status"]).lower()
    left, right = st.columns([4, 1], vertical_alignment="center")
    left.write(f"Latest run: **Run {latest_run['id']}** ({markdown_safe(latest_run['model'])} on "
               f"'{markdown_safe(latest_run['dataset'])}') — {words}.")
    if right.button("Open it", key="home-open-run"):
        go("run", run=latest_run["id"])

st.subheader("Try a sample")
st.caption("Each sample is ready to train in one click: no file needed.")
for column, (kind, key, icon) in zip(st.columns(4), SAMPLE_PER_KIND):
    sample = SAMPLES[key]
    with column.container(border=True):
        st.markdown(f"**{sample.title}**")
        st.caption(f"{KIND_WORDS[kind].capitalize()}: {sample.description}")
        if st.button("Use this sample", key=f"sample-{key}", icon=icon):
            existing = repo.get_dataset(sample.title)
            with st.spinner(f"Preparing '{sample.title}'…"):
                dataset = existing or add_sample(key)
            state.clear_caches()
            go("datasets", dataset=dataset["id"])
