"""Team access: accounts with Argon2 passwords, roles checked in the engine and db layer, and the audit trail."""

import json

import pytest

from db import access, accounts, explorer, repo
from db.access import AccessDenied, Actor, acting_as
from tests.conftest import cli, page_texts
from tests.factories import make_dataset

PASSWORD = "a long enough secret"
VIEWER = Actor("vi@example.com", "viewer", "10.0.0.7")
EDITOR = Actor("ed@example.com", "editor", "10.0.0.8")
ADMIN = Actor("ad@example.com", "admin", "10.0.0.9")


def test_roles_are_checked_where_the_work_is_done_not_only_on_the_pages(home):
    dataset = make_dataset("customers")
    with acting_as(VIEWER):
        with pytest.raises(AccessDenied, match="Only editors and admins can start runs and sweeps; vi@example.com is "
                                               "signed in as a viewer"):
            repo.create_run(dataset["id"], "mlp", {})
        with pytest.raises(AccessDenied, match="add or clean data sets"):
            make_dataset("other")
    with acting_as(EDITOR):
        run = repo.create_run(dataset["id"], "mlp", {})
        assert repo.request_cancel(run["id"]) == "cancelled"
        with pytest.raises(AccessDenied, match="Only admins can delete runs and data sets"):
            explorer.delete_runs([run["id"]])
        with pytest.raises(AccessDenied, match="Only admins"):
            explorer.delete_dataset(dataset["id"])
    with acting_as(VIEWER), pytest.raises(AccessDenied):
        explorer.delete_runs([run["id"]])
    assert repo.get_run(run["id"]) is not None  # nothing was deleted by the refusals
    assert repo.get_run(run["id"])["created_by"] == "ed@example.com"
    assert repo.get_dataset(dataset["id"])["created_by"] == "local"
    with acting_as(ADMIN):
        assert explorer.delete_runs([run["id"]]).deleted == [run["id"]]
    trail = access.audit_trail()
    assert [(e["actor"], e["action"], e["target"]) for e in trail] == [
        ("ad@example.com", "delete_run", f"runs {run['id']}"),
        ("vi@example.com", "refused", "delete runs and data sets"),
        ("ed@example.com", "refused", "delete runs and data sets"),
        ("ed@example.com", "refused", "delete runs and data sets"),
        ("ed@example.com", "cancel", f"run {run['id']}"), ("ed@example.com", "train", f"run {run['id']}"),
        ("vi@example.com", "refused", "add or clean data sets"),
        ("vi@example.com", "refused", "start runs and sweeps"),
        ("local", "upload", f"data set {dataset['id']} 'customers'")]
    assert trail[1]["detail"] == "needs the admin role"
    assert trail[0]["address"] == "10.0.0.9" and trail[0]["role"] == "admin"
    assert access.audit_trail(actor="ED@example.com", action="train")[0]["target"] == f"run {run['id']}"


def test_nobody_signed_in_may_do_nothing_while_sign_in_is_on(home):
    access.use_actor_provider(lambda: None, required=True)
    try:
        with pytest.raises(AccessDenied, match="Sign in first"):
            make_dataset("customers")
    finally:
        access.use_actor_provider(None)
    assert make_dataset("customers")["created_by"] == "local"  # sign-in off: this computer's operator


@pytest.mark.slow
def test_passwords_are_hashed_counted_and_locked_after_five_wrong_tries(home):
    with acting_as(VIEWER), pytest.raises(AccessDenied, match="add people"):
        accounts.add_user("x@example.com", "viewer", PASSWORD)
    accounts.add_user("Ana@Example.com", "admin", PASSWORD, "Ana")
    with pytest.raises(accounts.AccountError, match="at least 10 characters"):
        accounts.add_user("bo@example.com", "editor", "short")
    with pytest.raises(accounts.AccountError, match="is not an email address"):
        accounts.add_user("not an email", "editor", PASSWORD)
    from sqlalchemy import select

    from db.models import User
    from db.session import session_scope

    with session_scope() as session:
        stored = session.scalar(select(User.password_hash).where(User.email == "ana@example.com"))
    assert stored.startswith("$argon2id$") and PASSWORD not in stored

    actor = accounts.sign_in_with_password("ANA@example.com ", PASSWORD, "10.1.1.1")
    assert (actor.email, actor.role, actor.name, actor.address) == ("ana@example.com", "admin", "Ana", "10.1.1.1")
    for _ in range(accounts.MAX_FAILED_ATTEMPTS):
        with pytest.raises(accounts.AccountError, match="do not match an account"):
            accounts.sign_in_with_password("ana@example.com", "wrong password!!")
    with pytest.raises(accounts.AccountError, match="Too many wrong passwords"):
        accounts.sign_in_with_password("ana@example.com", PASSWORD)  # even the right one waits now
    with pytest.raises(accounts.AccountError, match="do not match an account"):  # an unknown email says the same
        accounts.sign_in_with_password("nobody@example.com", PASSWORD)
    assert access.audit_trail(action="refused")[0]["target"] == "add people and change their roles"
    failed = access.audit_trail(action="sign_in_failed")
    assert len(failed) == accounts.MAX_FAILED_ATTEMPTS + 1 and failed[-1]["actor"] == "ana@example.com"


def test_the_last_admin_cannot_be_removed_or_demoted(home):
    accounts.add_user("ana@example.com", "admin", PASSWORD)
    with pytest.raises(accounts.AccountError, match="last admin"):
        accounts.set_role("ana@example.com", "editor")
    with pytest.raises(accounts.AccountError, match="last admin"):
        accounts.remove_user("ana@example.com")
    accounts.add_user("bo@example.com", "viewer")
    assert accounts.set_role("bo@example.com", "admin")["role"] == "admin"
    accounts.remove_user("ana@example.com")
    assert [u["email"] for u in accounts.list_users()] == ["bo@example.com"]
    assert accounts.sign_in_from_provider("bo@example.com", "Bo").role == "admin"
    assert accounts.sign_in_from_provider("stranger@example.com", "S") is None


@pytest.mark.slow
def test_the_command_line_manages_people_and_prints_the_audit_trail(home):
    added = cli("users", "add", "ana@example.com", "--role", "editor", "--json", input=PASSWORD + "\n")
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["role"] == "editor" and PASSWORD not in added.stdout
    nothing = cli("users", "add", "bo@example.com", input="")
    assert nothing.returncode == 2 and "No password came on standard input" in nothing.stderr
    assert cli("users", "add", "cy@example.com", "--no-password").returncode == 0
    listed = json.loads(cli("users", "list", "--json").stdout)
    assert [(u["email"], u["role"], u["password"]) for u in listed] == [("ana@example.com", "editor", True),
                                                                        ("cy@example.com", "viewer", False)]
    assert cli("users", "set-role", "cy@example.com", "admin").returncode == 0
    refused = cli("users", "remove", "cy@example.com")
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert cli("users", "remove", "ana@example.com", "--yes").returncode == 0
    trail = json.loads(cli("audit", "--json").stdout)
    assert [e["action"] for e in trail] == ["remove_user", "set_role", "add_user", "add_user"]
    assert all(e["actor"] == "local" and e["address"] == "command line" for e in trail)
    assert json.loads(cli("audit", "--action", "set_role", "--json").stdout)[0]["detail"] == "viewer → admin"
    bad = cli("audit", "--action", "dance")
    assert bad.returncode == 2 and "is not an action of the audit trail" in bad.stderr


@pytest.mark.slow
def test_a_dashboard_child_process_acts_for_the_signed_in_person(home):
    make_dataset("customers")
    viewer = json.dumps({"email": "vi@example.com", "role": "viewer", "address": "10.0.0.7"})
    refused = cli("train", "--dataset", "customers", env={access.ACTING_AS: viewer})
    assert refused.returncode == 2 and "Only editors and admins can start runs" in refused.stderr
    assert repo.list_runs() == []


def sign_in_on(monkeypatch):
    monkeypatch.setenv(accounts.SIGN_IN_VARIABLE, "on")


@pytest.mark.slow
def test_the_dashboard_asks_who_is_there_and_the_role_decides_what_they_may_do(home, monkeypatch):
    accounts.add_user("vi@example.com", "viewer", PASSWORD, "Vi")
    accounts.add_user("ad@example.com", "admin", PASSWORD, "Ad")
    dataset = make_dataset("customers")
    run = repo.create_run(dataset["id"], "mlp", {"model": {"name": "mlp"}, "training": {}, "split": {}})
    sign_in_on(monkeypatch)
    from streamlit.testing.v1 import AppTest

    from tests.conftest import APP

    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert [t.value for t in at.title] == ["Sign in to Trainyard"]
    at.text_input(key="sign-in-email").input("vi@example.com")
    at.text_input(key="sign-in-password").input("not the password")
    at.button[0].click().run()
    assert "do not match an account" in page_texts(at)
    at.text_input(key="sign-in-password").input(PASSWORD)
    at.button[0].click().run()
    assert not at.exception
    assert "Signed in as **Vi** (viewer)" in [c.value for c in at.sidebar.caption]
    at.switch_page("views/new_run.py").run()
    assert at.button(key="train").disabled
    assert "Only editors and admins can start runs and sweeps" in page_texts(at)
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("views/team.py")  # not listed for a viewer (and the engine refuses its work anyway)
    assert repo.get_run(run["id"]) is not None

    admin = AppTest.from_file(APP, default_timeout=60)
    admin.run()
    admin.text_input(key="sign-in-email").input("ad@example.com")
    admin.text_input(key="sign-in-password").input(PASSWORD)
    admin.button[0].click().run()
    admin.switch_page("views/team.py").run()
    assert not admin.exception
    people = admin.dataframe[0].value
    assert list(people["Email"]) == ["ad@example.com", "vi@example.com"]
    trail = admin.dataframe[1].value
    assert list(trail["Action"])[:3] == ["sign in", "sign in", "sign in failed"]
    assert list(trail["Who"])[:3] == ["ad@example.com", "vi@example.com", "vi@example.com"]
    admin.button(key="sign-out").click().run()
    assert [t.value for t in admin.title] == ["Sign in to Trainyard"]
    assert access.audit_trail(action="sign_out")[0]["actor"] == "ad@example.com"


def test_a_mistyped_sign_in_setting_is_named_and_lets_nobody_in(home, monkeypatch):
    monkeypatch.setenv(accounts.SIGN_IN_VARIABLE, "yes please")
    from streamlit.testing.v1 import AppTest

    from tests.conftest import APP

    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception
    assert "TRAINYARD_SIGN_IN='yes please' is not a setting: use 'on'" in page_texts(at)
    assert not at.title  # no page is shown

