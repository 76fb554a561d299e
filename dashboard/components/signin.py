"""Who is using the dashboard: with sign-in off, this computer's operator; with it on, a signed-in person.

`who_is_here()` runs first on every page (dashboard/app.py). It tells db.access who acts for this browser
session, so that every write the pages start is checked against the person's role in the engine and db layer;
while nobody is signed in the app shows `sign_in_page()` instead of the page asked for (kept in the address, so
it opens once signed in).
"""

from __future__ import annotations

import streamlit as st

from db import access, accounts

SESSION_KEY = "signed-in"


def _address() -> str | None:
    try:
        address = st.context.ip_address
    except Exception:  # outside a browser session: no address
        return None
    return address if isinstance(address, str) and address else None


def provider_configured() -> bool:
    """Whether .streamlit/secrets.toml names an OpenID Connect provider for st.login."""
    try:
        return "auth" in st.secrets
    except Exception:  # no secrets file at all
        return False


def _session_actor() -> access.Actor | None:
    """The person signed in to the page being run, or None outside a page's run."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    if get_script_run_ctx(suppress_warning=True) is None:
        return None
    return st.session_state.get(SESSION_KEY)


def who_is_here() -> access.Actor | None:
    """Give back who acts for this session, or None while nobody is signed in (then show `sign_in_page`)."""
    try:
        mode = accounts.sign_in_mode()
    except accounts.AccountError as error:  # a mistyped setting: say so, and let nobody in
        access.use_actor_provider(_session_actor, required=True)
        st.error(str(error))
        st.stop()
    access.use_actor_provider(_session_actor, required=mode == "on")
    if mode == "off":
        st.session_state[SESSION_KEY] = access.Actor("local", "admin", _address() or "this computer")
        return st.session_state[SESSION_KEY]
    actor = _session_actor()
    if actor is None and provider_configured() and getattr(st.user, "is_logged_in", False):
        actor = accounts.sign_in_from_provider(st.user.get("email") or "", st.user.get("name"), _address())
        if actor is None:
            st.error(f"{st.user.get('email')} has no account on this Trainyard. Ask an admin to add you "
                     "(`python -m engine users add EMAIL --role viewer`).")
            st.button("Sign out", on_click=st.logout, key="provider-sign-out")
            st.stop()
    if actor is not None:
        role = accounts.current_role(actor.email)  # an admin may have changed it, or removed the account
        if role is None:
            st.session_state.pop(SESSION_KEY, None)
            actor = None
        elif role != actor.role:
            actor = access.Actor(actor.email, role, actor.address, actor.name)
    if actor is None:
        return None
    st.session_state[SESSION_KEY] = actor
    with st.sidebar:
        st.caption(f"Signed in as **{actor.label}** ({actor.role})")
        if st.button("Sign out", key="sign-out", icon=":material/logout:"):
            sign_out(actor)
    return actor


def sign_out(actor: access.Actor) -> None:
    access.audit("sign_out", f"user {actor.email}", None, actor)
    st.session_state.pop(SESSION_KEY, None)
    if provider_configured() and getattr(st.user, "is_logged_in", False):
        st.logout()
    st.rerun()


def sign_in_page() -> None:
    st.title("Sign in to Trainyard")
    if provider_configured():
        st.button("Sign in with your organisation's account", type="primary", on_click=st.login, key="provider-sign-in",
                  icon=":material/login:")
        st.caption("Or with an account made for you on this Trainyard:")
    with st.form("sign-in"):
        email = st.text_input("Email", key="sign-in-email")
        password = st.text_input("Password", type="password", key="sign-in-password")
        pressed = st.form_submit_button("Sign in", type="secondary" if provider_configured() else "primary")
    if pressed:
        try:
            st.session_state[SESSION_KEY] = accounts.sign_in_with_password(email, password, _address())
        except accounts.AccountError as error:
            st.error(str(error))
        else:
            st.rerun()
    st.caption("No account? Ask an admin of this Trainyard to add you.")


def can(action: str) -> bool:
    """Whether the person here may take action (to show or grey out a button; the engine checks again)."""
    return access.allowed(action)


def refusal(action: str) -> str:
    """The sentence the engine would give for action, to show beside a greyed-out button (not an attempt: the
    audit trail does not record it)."""
    return access.refusal(action) or ""
