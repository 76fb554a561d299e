"""Serving: turn a finished run into a web service other programs can ask, watch it answer, and stop it.

Each service is its own process (`python -m engine serve RUN --background` does the same from the command
line), so it keeps answering when this page is closed; the page lists the ones running on this machine.
"""

import json
import secrets
import time

import streamlit as st

from dashboard.components import state
from dashboard.components.text import markdown_safe
from db.models import RunStatus
from engine.errors import UserError
from engine.serving.http import ServeOptions
from engine.serving.runtime import read_preprocessing, run_folder
from engine.serving.services import free_port, running_services, service_figures, start_service, stop_service
from engine.serving.shapes import example_request

st.title("Serving")
st.caption("Turn a finished run into a web service: other programs send it inputs over HTTP and get its answers "
           "back. A service keeps running when you close this page.")

finished = {r["id"]: r for r in state.runs() if r["status"] == RunStatus.COMPLETED}
services = running_services()
served = {s["run"] for s in services}


def run_label(run_id: int) -> str:
    run = finished.get(run_id)
    if run is None:
        return f"Run {run_id}"
    return f"Run {run_id}: {run['model']} on '{run['dataset']}'" + (f" ({run['name']})" if run["name"] else "")


with st.expander("Start a service", expanded=not services, icon=":material/play_arrow:"):
    choices = [run_id for run_id in finished if run_id not in served]
    if not choices:
        st.info("No finished run is left to serve. Train a model under **New run**; when it finishes, you can "
                "serve it here.")
    else:
        wanted = state.query_int("run")
        with st.form("start-service"):
            run_id = st.selectbox("Run", choices, index=choices.index(wanted) if wanted in choices else 0,
                                  format_func=run_label)
            port = st.number_input("Port", min_value=1024, max_value=65535, value=free_port(),
                                   help="The number at the end of the service's address. Any free one will do.")
            shared = st.checkbox("Let other computers on the network use it",
                                 help="Off: only programs on this computer can reach it. On: anyone who can reach "
                                      "this computer can, if they have the service's secret key (made for you).")
            keyed = st.checkbox("Ask for a secret key even on this computer", value=False,
                                help="Every request must then carry the key; requests without it are refused.")
            start = st.form_submit_button("Start the service", type="primary", icon=":material/play_arrow:")
        if start:
            options = ServeOptions(host="0.0.0.0" if shared else "127.0.0.1", port=int(port),
                                   token=secrets.token_urlsafe(24) if shared or keyed else None)
            try:
                with st.spinner("Starting the service (the first time, the model is prepared first: up to a "
                                "minute or two)…"):
                    start_service(run_id, options)
            except UserError as error:
                st.error(markdown_safe(str(error)))
            else:
                st.rerun()

if not services:
    st.info("No service is running. Start one above, or from the command line: "
            "`python -m engine serve RUN_ID --background`.")
    st.stop()


def curl_example(service: dict) -> str:
    try:
        body = example_request(read_preprocessing(service["run"]))
    except OSError:
        body = {}
    key = f" \\\n  -H 'Authorization: Bearer {service['token']}'" if service.get("token") else ""
    return (f"curl -X POST {service['url']}/predict \\\n  -H 'Content-Type: application/json'{key} \\\n"
            f"  -d '{json.dumps(body)}'")


@st.fragment(run_every=2)
def live_figures(service: dict) -> None:
    """Requests per second and answer time since the last look (every 2 seconds), and totals since the start."""
    now, figures = time.monotonic(), service_figures(service)
    if figures is None:
        st.warning("The service does not answer right now; it may be starting or stopping.")
        return
    key = f"service-figures-{service['run']}-{service['pid']}"
    before = st.session_state.get(key)
    st.session_state[key] = (now, figures)
    rate, latency = 0.0, None
    if before is not None and now > before[0]:
        seconds, old = now - before[0], before[1]
        rate = (figures["requests"] - old["requests"]) / seconds
        answered = figures["predictions"] - old["predictions"]
        if answered > 0:
            latency = 1000 * (figures["predict_seconds"] - old["predict_seconds"]) / answered
    elif figures["predictions"]:
        latency = 1000 * figures["predict_seconds"] / figures["predictions"]
    columns = st.columns(4)
    columns[0].metric("Requests per second", f"{rate:,.1f}", help="Over the last 2 seconds.")
    columns[1].metric("Time to answer", "—" if latency is None else f"{latency:,.1f} ms",
                      help="The average time to answer a prediction request, over the last 2 seconds.")
    columns[2].metric("Requests so far", f"{figures['requests']:,.0f}")
    columns[3].metric("Refused or failed", f"{figures['errors']:,.0f}",
                      help="Requests answered with an error: a wrong input, a missing key, too large a request.")


for service in services:
    with st.container(border=True):
        st.subheader(markdown_safe(run_label(service["run"])))
        where = "any computer that can reach this one" if service["host"] in ("0.0.0.0", "::") else "this computer"
        st.markdown(f"Answering at **{service['url']}** for {where}, since {service['started'][:19].replace('T', ' ')} "
                    f"(UTC). [Try it in the browser]({service['url']}/docs) · [Model description]"
                    f"({service['url']}/model)")
        if service.get("token"):
            st.caption("Secret key: every request must carry it in the header `Authorization: Bearer <key>`. "
                       "In the browser page, press Authorize and paste it.")
            st.code(service["token"], language=None)
        live_figures(service)
        st.caption("Ask it from a terminal or another program (the copy button is at the right of the box):")
        st.code(curl_example(service), language="bash")
        if st.button("Stop this service", key=f"stop-{service['run']}", icon=":material/stop:"):
            try:
                stop_service(service["run"])
            except UserError as error:
                st.error(markdown_safe(str(error)))
            st.rerun()
        if not (run_folder(service["run"]) / "model.pt").exists():
            st.warning("The run's model file is gone; the service still answers with the copy it loaded.")
