"""Runs: every stored run; filter, sort and search them, open one, compare several, archive or delete."""

import zlib
from datetime import date

import streamlit as st

from dashboard.components import explorer as ex
from dashboard.components import state
from dashboard.components.figures import metric_label
from dashboard.components.glossary import explain
from dashboard.components.nav import go
from dashboard.components.sweeps import sweep_of
from db import explorer
from db.models import RUN_STATUSES

PER_PAGE = 50
REFERENCE_HELP = explain("Classical reference")

st.title("Runs")

flash = st.session_state.pop("runs-flash", None)
if flash:
    st.success(flash)

choices = ex.filter_choices()
datasets = {d["id"]: d["name"] for d in choices["datasets"]}
# Only results order or filter the list: a learning rate or CPU use is no measure of a run's quality.
metrics = {key: span for key, span in choices["metrics"].items() if explorer.is_result(key)}
sorts = list(ex.SORTS) + [f"best:{key}" for key in metrics]


def _date(text):
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


ex.start_from_url("search", "q", lambda v: v or "", "")
ex.start_from_url("sort", "sort", lambda v: v if v in sorts else None, "newest")
ex.start_from_url("f-dataset", "dataset", lambda v: [i for i in ex.ids_from_text(v) if i in datasets], [])
ex.start_from_url("f-model", "model", lambda v: [m for m in (v or "").split(",") if m in choices["models"]], [])
ex.start_from_url("f-status", "status", lambda v: [s for s in (v or "").split(",") if s in RUN_STATUSES], [])
ex.start_from_url("f-tags", "tag", lambda v: [t for t in (v or "").split(",") if t in choices["tags"]], [])
ex.start_from_url("archived", "archived", lambda v: v == "1", False)

top = st.columns([3, 2], vertical_alignment="bottom")
search = top[0].text_input("Search", key="search", placeholder="A run's name or number, a model or a data set")
sort = top[1].selectbox("Sort by", sorts, key="sort", format_func=ex.sort_label)
switches = st.container(horizontal=True, gap="medium")
archived = switches.toggle("Archived runs", key="archived", help="Show the runs you archived, to restore or delete them.")
live = switches.toggle("Live updates", value=True, key="runs-live",
                       help="Refresh the list every two seconds while runs wait or train.")

row = st.columns([1.2, 1.2, 1.2, 1.2, 1.4])
dataset_ids = row[0].multiselect("Data set", list(datasets), key="f-dataset", format_func=datasets.get,
                                 placeholder="Any")
models = row[1].multiselect("Model", choices["models"], key="f-model", placeholder="Any")
statuses = row[2].multiselect("Status", list(RUN_STATUSES), key="f-status", placeholder="Any",
                              format_func=lambda s: state.STATUS_WORDS.get(s, s))
tags = row[3].multiselect("Tags", choices["tags"], key="f-tags", placeholder="Any")
url_dates = tuple(d for d in map(_date, (st.query_params.get("created") or "").split("..")) if d)[:2]
dates = row[4].date_input("Created between", value=url_dates, key="f-dates", format="YYYY-MM-DD")

ranges = []
with st.expander("Filter by results", icon=":material/filter_alt:"):
    st.caption("Keep only the runs whose best value of a metric lies in a range: the highest accuracy, "
               "or the lowest loss or error, that the run reached.")
    chosen_metrics = st.multiselect("Metrics", list(metrics), key="f-metrics", format_func=metric_label,
                                    placeholder="Choose one or more metrics")
    for key in chosen_metrics:
        low, high = metrics[key]["low"], metrics[key]["high"]
        if low is None or high is None or low == high:
            st.caption(f"{metric_label(key)}: every run has the same best value ({ex.format_value(key, low)}).")
            ranges.append((key, None, None))
            continue
        picked = st.slider(f"Best {metric_label(key).lower()}", float(low), float(high), (float(low), float(high)),
                           step=(high - low) / 200, format="%.4g", key=f"f-range-{key}")
        # An end left at the slider's edge is open, so rounding never drops the best or worst run.
        ranges.append((key, None if picked[0] <= low else picked[0], None if picked[1] >= high else picked[1]))

dates = tuple(dates) if isinstance(dates, (list, tuple)) else (dates,) if dates else ()
filters = explorer.RunFilters(
    search=search, dataset_ids=tuple(dataset_ids), models=tuple(models), statuses=tuple(statuses), tags=tuple(tags),
    created_from=dates[0] if dates else None, created_to=dates[-1] if dates else None,
    best_ranges=tuple(ranges), archived=archived,
)

# A new filter or order starts again at the first page.
signature = (filters, sort)
if st.session_state.get("runs-signature") not in (None, signature):
    st.session_state["page"] = 1
st.session_state["runs-signature"] = signature
ex.start_from_url("page", "page", lambda v: int(v) if v and v.isdigit() else None, 1)

ex.keep_in_url({"q": search.strip(), "sort": "" if sort == "newest" else sort, "dataset": dataset_ids,
                "model": models, "status": statuses, "tag": tags, "archived": "1" if archived else "",
                "created": "..".join(d.isoformat() for d in dates)})


def act(message: str) -> None:
    ex.clear_caches()
    state.clear_caches()
    st.session_state["runs-flash"] = message
    st.rerun(scope="app")


def actions(selected: list[int], names: dict[int, str]) -> None:
    count = len(selected)
    row = st.container(horizontal=True, vertical_alignment="center")
    if row.button("Open", icon=":material/open_in_new:", key="open-run", disabled=count != 1,
                  help="Open the selected run."):
        go("run", run=selected[0])
    if row.button(f"Compare ({count})" if count > 1 else "Compare", icon=":material/compare_arrows:",
                  key="compare", disabled=count < 2, help="Select two runs or more to compare them."):
        go("compare", runs=",".join(str(i) for i in selected))
    if archived:
        if row.button("Restore", icon=":material/unarchive:", key="restore", disabled=not count):
            changed = explorer.archive_runs(selected, archived=False)
            act(f"Restored {len(changed)} run(s).")
    elif row.button("Archive", icon=":material/archive:", key="archive", disabled=not count,
                    help="Hide the selected runs from this list. Nothing is deleted; "
                         "turn on Archived runs to see or restore them."):
        changed = explorer.archive_runs(selected)
        skipped = count - len(changed)
        act(f"Archived {len(changed)} run(s)."
            + (f" {skipped} still waiting or training were left as they are." if skipped else ""))
    with row.popover("Delete", icon=":material/delete:", disabled=not count):
        st.warning(f"Delete {count} run(s) for good: their curves, history, trained model and every file. "
                   "This cannot be undone. Archive them instead to only hide them.")
        st.text(", ".join(names[i] for i in selected[:10]) + (" …" if count > 10 else ""))
        if st.button(f"Delete {count} run(s) and their files", type="primary", key="delete"):
            outcome = explorer.delete_runs(selected)
            message = f"Deleted {len(outcome.deleted)} run(s) and their files."
            if outcome.training:
                message += (f" Run(s) {', '.join(map(str, outcome.training))} are still training: cancel them "
                            "first, then delete them.")
            act(message)
    if count:
        row.caption(f"{count} selected")


active = explorer.active_runs()


@st.fragment(run_every="2s" if live and active else None)
def runs_list() -> None:
    page = ex.find_runs(filters, sort, st.session_state.get("page", 1), PER_PAGE)
    if page.total == 0:
        if archived:
            st.info("No archived runs.")
        elif filters == explorer.RunFilters():
            st.info("No runs yet. Go to **New run**, pick a data set and press **Train**.")
        else:
            st.info("No run matches these filters. Clear a filter or the search to see more.")
        return
    first = (page.page - 1) * page.per_page + 1
    st.caption(f"Runs {first:,}–{first + len(page.runs) - 1:,} of {page.total:,}"
               f"{' (archived)' if archived else ''}, {ex.sort_label(sort).lower()}"
               f"{f' · {active} waiting or training' if active else ''}. "
               "Tick runs to open, compare, archive or delete them.")
    toolbar = st.container()  # filled once the table says which runs are ticked
    sort_key = sort[len("best:"):] if sort.startswith("best:") else None
    table = ex.runs_frame(page.runs, sort_key, sweep_of(page.runs))
    best_column = {f"Best {metric_label(sort_key).lower()}": st.column_config.NumberColumn(
        format="percent" if sort_key and ex.is_percent(sort_key) else "%.4g")} if sort_key else {}
    # Ticks belong to the rows on screen: when the rows change (another page, a new run on top),
    # the table is a new one with nothing ticked, so a tick can never move to another run.
    shown = ",".join(str(r["id"]) for r in page.runs)
    selection = st.dataframe(
        table, hide_index=True, on_select="rerun", selection_mode="multi-row", height="content",
        key=f"runs-table-{zlib.crc32(shown.encode()):08x}",
        column_config={
            "Run": st.column_config.NumberColumn(format="%d", width="small"),
            "Tags": st.column_config.ListColumn(),
            "Progress": st.column_config.ProgressColumn("Progress", min_value=0.0, max_value=1.0, format="percent"),
            "Best on validation": st.column_config.TextColumn(
                help="The best figure the run reached on its validation rows, with what it measures: the "
                     "highest accuracy, or else the lowest error or loss (for those, smaller is better)."),
            "Test accuracy": st.column_config.NumberColumn(format="percent", help=explain("Accuracy")),
            "Classical reference (accuracy)": st.column_config.NumberColumn(format="percent", help=REFERENCE_HELP),
            "Test error (RMSE)": st.column_config.NumberColumn(format="%.4g", help=explain("RMSE")),
            "Classical reference (RMSE)": st.column_config.NumberColumn(format="%.4g", help=REFERENCE_HELP),
        } | best_column,
    )
    rows = selection.selection.rows if selection else []
    selected = [int(table.iloc[i]["Run"]) for i in rows if i < len(table)]
    with toolbar:
        actions(selected, {r["id"]: ex.run_label(r) for r in page.runs})
    if page.pages > 1:
        if st.session_state.get("page") != page.page:  # runs were removed: the last page moved
            st.session_state["page"] = page.page
        st.pagination(page.pages, key="page", max_visible_pages=9)
    ex.keep_in_url({"page": page.page if page.page > 1 else ""})


runs_list()
