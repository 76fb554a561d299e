"""Team (admins): the people who may sign in with their roles, and the audit trail of what everyone did."""

from datetime import timedelta

import pandas as pd
import streamlit as st

from dashboard.components.text import markdown_safe
from db import access, accounts
from db.models import ROLES, utcnow

st.title("Team")
access.require("manage_users")  # the page is listed for admins only; the engine refuses anyone else too

mode = accounts.sign_in_mode()
if mode == "off":
    st.info("Sign-in is off: whoever opens this dashboard acts as its admin, which suits one person on their own "
            "computer. To share it with a team, add the people below, then start it with `TRAINYARD_SIGN_IN=on` "
            "(the README's *Teams* section says how, with your organisation's sign-in too).")

st.subheader("People")
st.caption("; ".join(f"**{role.capitalize()}s**: {access.ROLE_WORDS[role].split(' ', 1)[1]}" for role in ROLES) + ".")
people = accounts.list_users()
if people:
    st.dataframe(pd.DataFrame([{"Email": p["email"], "Name": p["name"] or "", "Role": p["role"],
                                "Signs in with": "a password" if p["password"] else "the organisation's account",
                                "Last sign-in": (p["last_sign_in_at"] or "never").replace("T", " ").rstrip("Z")}
                               for p in people]), hide_index=True)
else:
    st.caption("Nobody has an account yet.")

with st.expander("Add a person", icon=":material/person_add:"):
    with st.form("add-person", clear_on_submit=True):
        columns = st.columns(2)
        email = columns[0].text_input("Email")
        name = columns[1].text_input("Name (optional)")
        role = columns[0].selectbox("Role", ROLES, index=0, format_func=str.capitalize)
        password = columns[1].text_input("Password (leave empty for a person who signs in with the organisation's "
                                         "account)", type="password")
        if st.form_submit_button("Add", type="primary"):
            try:
                added = accounts.add_user(email, role, password or None, name or None)
            except accounts.AccountError as error:
                st.error(markdown_safe(str(error)))
            else:
                st.success(f"Added {markdown_safe(added['email'])} as {added['role']}.")

if people:
    with st.expander("Change a role or remove a person", icon=":material/manage_accounts:"):
        emails = [p["email"] for p in people]
        chosen = st.selectbox("Person", emails, key="team-person")
        current = next(p for p in people if p["email"] == chosen)
        columns = st.columns([2, 1, 1], vertical_alignment="bottom")
        new_role = columns[0].selectbox("Role", ROLES, index=ROLES.index(current["role"]), key="team-role",
                                        format_func=str.capitalize)
        try:
            if columns[1].button("Change the role", key="team-set-role", disabled=new_role == current["role"]):
                accounts.set_role(chosen, new_role)
                st.rerun()
            if columns[2].button("Remove", key="team-remove", icon=":material/person_remove:"):
                accounts.remove_user(chosen)
                st.rerun()
        except accounts.AccountError as error:
            st.error(markdown_safe(str(error)))

st.subheader("Audit trail")
st.caption("Who added data, trained, cancelled, deleted, exported, served, signed in or changed a role, when, and "
           "from which address; newest first. `python -m engine audit` prints the same.")
filters = st.columns(3)
person = filters[0].text_input("Person (email, or 'local')", key="audit-person")
action = filters[1].selectbox("Action", ["(any)", *access.AUDIT_ACTIONS], key="audit-action",
                              format_func=lambda a: a.replace("_", " "))
days = filters[2].selectbox("Time", [1, 7, 30, 365, None], index=1, key="audit-days",
                            format_func=lambda d: "all of it" if d is None else f"the last {d} day{'s' if d > 1 else ''}")
events = access.audit_trail(actor=person or None, action=None if action == "(any)" else action,
                            since=utcnow() - timedelta(days=days) if days else None, limit=1000)
if events:
    st.dataframe(pd.DataFrame([{"When (UTC)": e["at"].replace("T", " ").rstrip("Z"), "Who": e["actor"],
                                "Role": e["role"], "Action": e["action"].replace("_", " "), "On": e["target"] or "",
                                "Detail": e["detail"] or "", "From": e["address"] or ""} for e in events]),
                 hide_index=True)
else:
    st.caption("Nothing in the audit trail matches.")
