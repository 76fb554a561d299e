"""The Data sets page's quality report of one data set and its fixes, each making a new version."""

import pandas as pd
import streamlit as st

from dashboard.components.datasets import KIND_WORDS, SEVERITY, TASK_WORDS, categories_figure, fix
from dashboard.components.text import label_safe, markdown_safe as plain
from engine.data.cleaning import available_steps
from engine.data.fixes import FILL_METHODS, merge_mapping
from engine.data.image_report import listed_count
from engine.data.ingest import READING_NOTES
from engine.data.images import MAX_SIDE, MIN_SIDE
from engine.data.profile import CHOSEN, MIN_CLASS_EXAMPLES
from engine.data.ratings import MIN_USER_RATINGS
from engine.words import plain_number


def quality_report(dataset: dict) -> None:
    """Show what was detected and why, and every problem found with its fix."""
    report = dataset["quality_report"]
    schema = dataset["schema"]
    kind = dataset["kind"]
    detected = report.get("detected", {})
    problems = report.get("problems", [])
    selected = dataset["id"]
    reasons = [f"**Kind:** {KIND_WORDS[kind].lower()}, because {plain(detected.get('kind_reason', CHOSEN))}."]
    reasons += [f"**{title}:** {plain(detected[key])}." for title, key in READING_NOTES if detected.get(key)]
    if kind == "text":
        reasons.append(f"**Texts:** '{plain(schema['text_column'])}', because "
                       f"{plain(detected.get('text_reason', CHOSEN))}.")
    if kind == "image":
        reasons.append(f"**Labels:** {plain(detected.get('target_reason', ''))}.")
        reasons.append(f"**Size:** {schema['width']} × {schema['height']} pixels, "
                       f"{'grey' if schema['channels'] == 1 else 'colour'}; {plain(detected.get('size_reason', ''))}.")
    else:
        target_reason = detected.get("target_reason", CHOSEN)
        task_reason = detected.get("task_reason", "")
        why = target_reason if task_reason in ("", target_reason) else f"{target_reason}; {task_reason}"
        reasons.append(f"**Predicts:** '{plain(dataset['target'])}' as a {TASK_WORDS[dataset['task']].lower()}, "
                       f"because {plain(why)}.")
    st.markdown("  \n".join(reasons))
    st.caption("To change any of these, use 'Change what to predict' under Fix problems, or add the file again.")

    if not problems:
        st.success("No problems found.")
    for i, item in enumerate(problems):
        if item["severity"] == "info":
            continue
        with st.container(border=True):
            SEVERITY[item["severity"]](f"**{plain(item['title'])}.**")
            st.markdown(f"*What it does to training:* {plain(item['effect'])}  \n*Fix:* {plain(item['fix'])}")
            with st.container(horizontal=True):  # each button as wide as its words, wrapping on a narrow screen
                for j, step in enumerate(item["actions"]):
                    if st.button(label_safe(step["label"]), key=f"fix-{selected}-{i}-{j}"):
                        fix(dataset, step)
    notes = [(i, p) for i, p in enumerate(problems) if p["severity"] == "info"]
    if notes:
        with st.expander(f"Notes ({len(notes)})"):
            for i, item in notes:
                st.markdown(f"**{plain(item['title'])}.** {plain(item['effect'])} *Fix:* {plain(item['fix'])}")
                for j, step in enumerate(item["actions"]):
                    if st.button(label_safe(step["label"]), key=f"fix-{selected}-{i}-{j}"):
                        fix(dataset, step)

    left, right = st.columns(2)
    if report.get("class_counts"):
        left.plotly_chart(categories_figure(report["class_counts"], "Examples per class", "Class", "Examples"),
                          theme=None)
    missing = {k: v for k, v in report.get("missing", {}).items() if v}
    if missing:
        right.plotly_chart(categories_figure(missing, "Missing cells per column", "Column", "Missing cells"),
                           theme=None)
    if kind == "tabular" and report.get("target_stats"):
        stats = report["target_stats"]
        left.write(f"'{plain(dataset['target'])}' ranges from {plain_number(stats['min'], 4)} to "
                   f"{plain_number(stats['max'], 4)} (mean {plain_number(stats['mean'], 4)}, median "
                   f"{plain_number(stats['median'], 4)}).")
    if kind == "text":
        words = report["words"]
        right.markdown(f"**Words per text:** {words['min']} to {words['max']}, median {words['median']:.0f}; "
                       f"{report['empty_texts']:,} empty. Texts are cut at {report['max_length']} words.")
        edges, counts = report["length_histogram"]["edges"], report["length_histogram"]["counts"]
        lengths = pd.DataFrame({"Words": [f"{edges[k]:.0f}–{edges[k + 1]:.0f}" for k in range(len(counts))],
                                "Texts": counts})
        right.bar_chart(lengths, x="Words", y="Texts", sort=False, height=260)
    if kind == "ratings":
        dist = pd.DataFrame({"Rating": list(report["rating_distribution"]),
                             "Ratings": list(report["rating_distribution"].values())})
        left.markdown("**How often each rating is given**")
        left.bar_chart(dist, x="Rating", y="Ratings", sort=False, height=260)
        per_user, per_item = report["ratings_per_user"], report["ratings_per_item"]
        right.markdown(
            f"**{report['users']:,} users** rated {per_user['min']} to {per_user['max']} items each "
            f"(median {per_user['median']:.0f}).  \n**{report['items']:,} items** got {per_item['min']} to "
            f"{per_item['max']} ratings each (median {per_item['median']:.0f}).  \n"
            f"**{report['density']:.2%}** of all user–item pairs are rated ({report['sparsity']:.2%} empty).")
    if kind == "image":
        right.plotly_chart(categories_figure(report["sizes"], "Image sizes (width × height)", "Size", "Images"),
                           theme=None)
        st.write("Picture types: " + ", ".join(f"{plain(k)} {v:,}" for k, v in report["formats"].items())
                 + ". Colour modes: " + ", ".join(f"{plain(k)} {v:,}" for k, v in report["modes"].items()) + ".")
        if report["unreadable"]:
            more = listed_count(report, "unreadable") - len(report["unreadable"])
            st.write("Files that could not be read" + (f" (the first {len(report['unreadable']):,}; "
                                                       f"{more:,} more are not listed):" if more > 0 else ":"))
            st.dataframe(pd.DataFrame(report["unreadable"]).rename(columns={"file": "File", "why": "Why"}),
                         hide_index=True)


def fix_problems(dataset: dict) -> None:
    """Offer each fix that applies to the data set; each makes a new version and keeps this one."""
    report = dataset["quality_report"]
    schema = dataset["schema"]
    kind = dataset["kind"]
    selected = dataset["id"]
    st.caption("Each fix makes a new version of the data set; this one stays as it is.")
    steps = available_steps(dataset)
    counts = report.get("class_counts") or {}

    with st.container(border=True):
        what = "images" if kind == "image" else "rows"
        st.markdown(f"**Drop duplicate {what}** — {report.get('duplicate_rows', report.get('duplicate_images', 0)):,} "
                    "found; one of each is kept.")
        if st.button(f"Drop duplicate {what}", key=f"clean-dups-{selected}"):
            fix(dataset, {"step": "drop_duplicates"})

    if kind != "image":
        frame_columns = list(report.get("types", {}))
        gaps = [c for c in frame_columns if report["missing"].get(c)]
        with st.container(border=True):
            st.markdown("**Missing values**")
            if not gaps:
                st.write("No column has missing values.")
            else:
                column = st.radio("Column", gaps, horizontal=True, key=f"clean-gap-column-{selected}",
                                  format_func=lambda c: f"{plain(c)} ({report['missing'][c]:,} missing)")
                ways = ["drop", *FILL_METHODS]
                way = st.radio("What to do", ways, horizontal=True, key=f"clean-gap-way-{selected}",
                               format_func={"drop": "Drop those rows", "median": "Fill with the median",
                                            "mode": "Fill with the most common value",
                                            "constant": "Fill with a value"}.get)
                value = st.text_input("Value to fill with", key=f"clean-gap-value-{selected}",
                                      disabled=way != "constant")
                if st.button("Apply", key=f"clean-gap-apply-{selected}"):
                    step = ({"step": "drop_missing", "column": column} if way == "drop" else
                            {"step": "fill_missing", "column": column, "method": way, "value": value})
                    fix(dataset, step)

    if counts:
        labels = pd.Series(list(counts)).repeat(list(counts.values()))
        mapping = merge_mapping(labels)
        with st.container(border=True):
            st.markdown("**Merge label spellings** that differ only by case, spaces or punctuation")
            if mapping:
                st.write(", ".join(f"'{plain(a)}' → '{plain(b)}'" for a, b in mapping.items()))
            else:
                st.write("Every label is spelled one way.")
            if st.button("Merge the spellings", key=f"clean-merge-{selected}", disabled=not mapping):
                fix(dataset, {"step": "merge_labels", "column": dataset["target"]})
        with st.container(border=True):
            st.markdown("**Drop classes with too few examples**")
            minimum = st.number_input("Fewest examples a class needs", 2, 10_000, MIN_CLASS_EXAMPLES,
                                      key=f"clean-rare-min-{selected}")
            rare = [k for k, v in counts.items() if v < minimum]
            st.write(f"{len(rare)} classes have fewer: " + ", ".join(f"'{plain(k)}'" for k in rare[:20])
                     if rare else "Every class has at least that many.")
            if st.button("Drop them", key=f"clean-rare-{selected}", disabled=not rare):
                fix(dataset, {"step": "drop_rare_classes", "column": dataset["target"], "min_count": int(minimum)})

    if kind == "image":
        with st.container(border=True):
            st.markdown(f"**Drop unreadable images** — {listed_count(report, 'unreadable'):,} found. They are "
                        "already left out of training; this removes them from the data set.")
            if st.button("Drop unreadable images", key=f"clean-unreadable-{selected}",
                         disabled=not report["unreadable"]):
                fix(dataset, {"step": "drop_unreadable"})
        with st.container(border=True):
            st.markdown("**Change the image size** every image is resized to")
            left, right = st.columns(2)
            width = left.number_input("Width (pixels)", MIN_SIDE, MAX_SIDE, int(schema["width"]),
                                      key=f"clean-width-{selected}")
            height = right.number_input("Height (pixels)", MIN_SIDE, MAX_SIDE, int(schema["height"]),
                                        key=f"clean-height-{selected}")
            if st.button("Resize", key=f"clean-resize-{selected}"):
                fix(dataset, {"step": "resize", "height": int(height), "width": int(width)})

    if kind == "text":
        with st.container(border=True):
            st.markdown(f"**Drop rows without text** — {report['empty_texts']:,} found.")
            if st.button("Drop rows without text", key=f"clean-empty-{selected}", disabled=not report["empty_texts"]):
                fix(dataset, {"step": "drop_empty_texts", "column": schema["text_column"]})

    if kind == "ratings":
        with st.container(border=True):
            st.markdown(f"**Keep one rating per user and item** — {report['conflicting_duplicates']:,} pairs are "
                        "rated more than once with different ratings; the latest is kept.")
            if st.button("Keep the last rating", key=f"clean-last-{selected}"):
                fix(dataset, {"step": "keep_last_rating"})
        with st.container(border=True):
            st.markdown("**Drop users with few ratings**")
            minimum = st.number_input("Fewest ratings a user needs", 2, 1000, MIN_USER_RATINGS,
                                      key=f"clean-users-min-{selected}")
            if st.button("Drop those users", key=f"clean-users-{selected}"):
                fix(dataset, {"step": "drop_rare_users", "min_count": int(minimum)})

    if kind in ("tabular", "text") and "set_target" in steps:
        with st.container(border=True):
            st.markdown("**Change what to predict**")
            columns = [c for c in report.get("types", {}) if c != schema.get("text_column")]
            target = st.radio("Column to predict", columns, horizontal=True, key=f"clean-target-{selected}",
                              format_func=plain,
                              index=columns.index(dataset["target"]) if dataset["target"] in columns else 0)
            task = dataset["task"]
            if kind == "tabular":
                tasks = ["classification", "regression"]
                task = st.radio("As", tasks, horizontal=True, index=tasks.index(dataset["task"]),
                                key=f"clean-task-{selected}",
                                format_func={"classification": "A category", "regression": "A number"}.get)
            if st.button("Use this", key=f"clean-set-target-{selected}",
                         disabled=(target, task) == (dataset["target"], dataset["task"])):
                fix(dataset, {"step": "set_target", "target": target, "task": task})

        removable = [c for c in report.get("types", {}) if c not in (dataset["target"], schema.get("text_column"))]
        if removable:
            with st.container(border=True):
                st.markdown("**Remove a column** the model should not use")
                column = st.radio("Column", removable, horizontal=True, key=f"clean-drop-column-{selected}",
                                  format_func=plain)
                if st.button("Remove it", key=f"clean-drop-column-apply-{selected}"):
                    fix(dataset, {"step": "drop_column", "column": column})
