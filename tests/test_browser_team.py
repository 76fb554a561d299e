"""Signing in, in a real browser: with a local account and through a real OpenID Connect provider running in the
test; a viewer refused a deletion by the engine, and the admin's audit page listing what was done."""

import pytest

from db import access, accounts, repo
from tests.browser import Dashboard, assert_no_exception, browser_page, stop_workers, wait_idle
from tests.factories import make_dataset

pytestmark = pytest.mark.browser

PASSWORD = "a long enough secret"


def sign_in(page, url: str, email: str, password: str) -> None:
    page.goto(url)
    page.get_by_role("heading", name="Sign in to Trainyard").wait_for()
    page.get_by_role("textbox", name="Email").fill(email)
    page.get_by_role("textbox", name="Password").fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.get_by_text("Signed in as").first.wait_for()
    wait_idle(page)


def test_a_viewer_and_an_admin_sign_in_with_local_accounts(home, monkeypatch):
    accounts.add_user("ad@example.com", "admin", PASSWORD, "Ad")
    accounts.add_user("vi@example.com", "viewer", PASSWORD, "Vi")
    dataset = make_dataset("customers")
    monkeypatch.setenv(accounts.SIGN_IN_VARIABLE, "on")
    dashboard = Dashboard(home).start()
    try:
        with browser_page() as page:
            page.goto(f"{dashboard.url}/datasets")
            page.get_by_role("heading", name="Sign in to Trainyard").wait_for()
            assert page.get_by_text("customers").count() == 0  # nothing shows before signing in

            sign_in(page, f"{dashboard.url}/datasets?dataset={dataset['id']}", "vi@example.com", PASSWORD)
            assert page.get_by_text("Signed in as Vi (viewer)").is_visible()
            assert page.get_by_text("Only editors and admins can add or clean data sets").is_visible()
            page.get_by_text("Delete this data set").click()
            page.get_by_text("I understand that this cannot be undone").click()
            page.get_by_role("button", name="Delete the data set").click()
            page.get_by_text("Only admins can delete runs and data sets; Vi is signed in as a viewer").wait_for()
            assert_no_exception(page)
            assert repo.get_dataset(dataset["id"]) is not None
            assert page.get_by_role("link", name="Team").count() == 0
            page.get_by_role("button", name="Sign out").click()
            page.get_by_role("heading", name="Sign in to Trainyard").wait_for()

            sign_in(page, f"{dashboard.url}/team", "ad@example.com", PASSWORD)
            page.get_by_role("heading", name="Audit trail").wait_for()
            wait_idle(page)
            assert_no_exception(page)
            trail = page.locator('[data-testid="stDataFrame"]').nth(1)
            trail.wait_for()
        actions = [(e["actor"], e["action"]) for e in access.audit_trail()]
        assert actions[:5] == [("ad@example.com", "sign_in"), ("vi@example.com", "sign_out"),
                               ("vi@example.com", "refused"), ("vi@example.com", "sign_in"), ("local", "upload")]
    finally:
        dashboard.stop()
        stop_workers(home)


def test_a_person_signs_in_through_an_openid_connect_provider(home, monkeypatch, tmp_path):
    oidc = pytest.importorskip("oidc_provider_mock")
    accounts.add_user("ana@example.com", "editor", None, "Ana")
    with oidc.run_server_in_thread() as server:
        provider = f"http://127.0.0.1:{server.server_port}"
        dashboard = Dashboard(home)
        secrets = tmp_path / "secrets.toml"
        secrets.write_text(f'''[auth]
redirect_uri = "{dashboard.url}/oauth2callback"
cookie_secret = "a test secret that is long enough"
client_id = "trainyard"
client_secret = "trainyard-secret"
server_metadata_url = "{provider}/.well-known/openid-configuration"
''')
        monkeypatch.setenv(accounts.SIGN_IN_VARIABLE, "on")
        monkeypatch.setenv("STREAMLIT_SECRETS_FILES", str(secrets))
        dashboard.start()
        try:
            with browser_page() as page:
                page.goto(dashboard.url)
                page.get_by_role("button", name="Sign in with your organisation's account").click()
                page.locator('input[name="sub"]').fill("ana@example.com")  # the provider's own sign-in form
                page.get_by_role("button", name="Authorize").click()
                page.get_by_text("Signed in as Ana (editor)").wait_for(timeout=60_000)
                wait_idle(page)
                assert_no_exception(page)
        finally:
            dashboard.stop()
            stop_workers(home)
    signed = access.audit_trail(action="sign_in")[0]
    assert (signed["actor"], signed["detail"]) == ("ana@example.com", "OpenID Connect")
