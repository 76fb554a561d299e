"""People who may sign in, their roles, and local passwords (Argon2 hashes, never the password itself).

Sign-in is off until it is turned on (TRAINYARD_SIGN_IN, see `sign_in_mode`): then the dashboard asks who is
there, by OpenID Connect (Streamlit's `st.login`, a provider set in .streamlit/secrets.toml) or by a local
account with a password. Every change here needs the admin role (db.access) and goes into the audit trail.
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import func, select

from db import access
from db.models import ROLES, User, datetime_iso, utcnow
from db.session import session_scope

SIGN_IN_VARIABLE = "TRAINYARD_SIGN_IN"
SIGN_IN_MODES = ("off", "on")
# After this many wrong passwords in a row an account waits LOCK_MINUTES before the next try.
MAX_FAILED_ATTEMPTS = 5
LOCK_MINUTES = 5
MIN_PASSWORD_LENGTH = 10
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

_hasher = PasswordHasher()  # Argon2id with the library's recommended costs
# Checked against when the email is unknown, so a wrong email takes as long as a wrong password.
_UNKNOWN_HASH = _hasher.hash("an account that does not exist")


class AccountError(ValueError):
    """An account could not be added or changed; str(error) says why in plain words."""


def sign_in_mode() -> str:
    """Give back 'off' (one person on this computer, no sign-in) or 'on' (everyone signs in)."""
    mode = os.environ.get(SIGN_IN_VARIABLE, "off").strip().lower() or "off"
    if mode not in SIGN_IN_MODES:
        raise AccountError(f"{SIGN_IN_VARIABLE}={mode!r} is not a setting: use 'on' (everyone signs in) or 'off'.")
    return mode


def _email(email: str) -> str:
    email = (email or "").strip().lower()
    if not EMAIL.match(email) or len(email) > 320:
        raise AccountError(f"'{email}' is not an email address, such as ana@example.com.")
    return email


def _role(role: str) -> str:
    if role not in ROLES:
        raise AccountError(f"'{role}' is not a role: use viewer, editor or admin ({'; '.join(access.ROLE_WORDS.values())}).")
    return role


def _as_dict(user: User) -> dict[str, Any]:
    return {"email": user.email, "name": user.name, "role": user.role, "password": user.password_hash is not None,
            "created_at": datetime_iso(user.created_at), "last_sign_in_at": datetime_iso(user.last_sign_in_at)}


def check_password(password: str) -> None:
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise AccountError(f"A password needs at least {MIN_PASSWORD_LENGTH} characters; a short sentence is easy "
                           "to remember and hard to guess.")


def add_user(email: str, role: str = "viewer", password: str | None = None, name: str | None = None) -> dict[str, Any]:
    """Add a person (admins only). Without a password they can sign in by OpenID Connect only."""
    actor = access.require("manage_users")
    email, role = _email(email), _role(role)
    if password is not None:
        check_password(password)
    with session_scope(write=True) as session:
        if session.scalar(select(User).where(User.email == email)):
            raise AccountError(f"{email} already has an account; change its role with `users set-role`.")
        user = User(email=email, role=role, name=(name or "").strip()[:200] or None,
                    password_hash=_hasher.hash(password) if password is not None else None)
        session.add(user)
        session.flush()
        access.record(session, "add_user", f"user {email}", f"role {role}" + (", with a password" if password else ""),
                      actor)
        return _as_dict(user)


def list_users() -> list[dict[str, Any]]:
    access.require("manage_users")
    with session_scope() as session:
        return [_as_dict(u) for u in session.scalars(select(User).order_by(User.email))]


def _admins_left(session, leaving: str) -> int:
    return session.scalar(select(func.count()).select_from(User).where(User.role == "admin", User.email != leaving))


def set_role(email: str, role: str) -> dict[str, Any]:
    actor = access.require("manage_users")
    email, role = _email(email), _role(role)
    with session_scope(write=True) as session:
        user = session.scalar(select(User).where(User.email == email))
        if user is None:
            raise AccountError(f"There is no account {email}. `python -m engine users list` shows them.")
        if user.role == "admin" and role != "admin" and not _admins_left(session, email):
            raise AccountError(f"{email} is the last admin: make someone else an admin first.")
        before, user.role = user.role, role
        access.record(session, "set_role", f"user {email}", f"{before} → {role}", actor)
        return _as_dict(user)


def remove_user(email: str) -> None:
    actor = access.require("manage_users")
    email = _email(email)
    with session_scope(write=True) as session:
        user = session.scalar(select(User).where(User.email == email))
        if user is None:
            raise AccountError(f"There is no account {email}. `python -m engine users list` shows them.")
        if user.role == "admin" and not _admins_left(session, email):
            raise AccountError(f"{email} is the last admin: make someone else an admin first.")
        session.delete(user)
        access.record(session, "remove_user", f"user {email}", None, actor)


def find_user(email: str) -> dict[str, Any] | None:
    """Give back a person's account (for the sign-in itself: no role needed), or None."""
    with session_scope() as session:
        user = session.scalar(select(User).where(User.email == (email or "").strip().lower()))
        return _as_dict(user) if user else None


def sign_in_with_password(email: str, password: str, address: str | None = None) -> access.Actor:
    """Give back the signed-in person, or raise AccountError with a message that does not say which part was wrong.

    Wrong passwords count; after MAX_FAILED_ATTEMPTS in a row the account waits LOCK_MINUTES.
    """
    email = (email or "").strip().lower()
    refused = AccountError("That email and password do not match an account. Check both and try again.")
    with session_scope(write=True) as session:
        user = session.scalar(select(User).where(User.email == email))
        now = utcnow()
        if user is not None and user.locked_until and user.locked_until > now:
            minutes = max(1, round((user.locked_until - now).total_seconds() / 60))
            raise AccountError(f"Too many wrong passwords for {email}: try again in about {minutes} minute"
                               f"{'s' if minutes > 1 else ''}, or ask an admin.")
        try:
            _hasher.verify(user.password_hash if user is not None and user.password_hash else _UNKNOWN_HASH,
                           password or "")
            ok = user is not None and user.password_hash is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            ok = False
        if not ok:
            if user is not None:
                user.failed_attempts += 1
                if user.failed_attempts >= MAX_FAILED_ATTEMPTS:
                    user.locked_until, user.failed_attempts = now + timedelta(minutes=LOCK_MINUTES), 0
            access.record(session, "sign_in_failed", f"user {email[:320]}", None, access.Actor(email or "?", "none", address))
        else:
            user.failed_attempts, user.locked_until, user.last_sign_in_at = 0, None, now
            if _hasher.check_needs_rehash(user.password_hash):
                user.password_hash = _hasher.hash(password)
            actor = access.Actor(user.email, user.role, address, user.name)
            access.record(session, "sign_in", f"user {user.email}", "password", actor)
            return actor
    raise refused


def sign_in_from_provider(email: str, name: str | None, address: str | None = None) -> access.Actor | None:
    """Give back the person an OpenID Connect provider vouched for, or None when they have no account here.

    An admin adds people (`users add EMAIL --role ROLE`); the provider only proves who they are.
    """
    email = (email or "").strip().lower()
    with session_scope(write=True) as session:
        user = session.scalar(select(User).where(User.email == email))
        if user is None:
            access.record(session, "sign_in_failed", f"user {email[:320]}", "no account here",
                          access.Actor(email or "?", "none", address))
            return None
        user.last_sign_in_at = utcnow()
        if name and not user.name:
            user.name = name[:200]
        actor = access.Actor(user.email, user.role, address, user.name)
        access.record(session, "sign_in", f"user {user.email}", "OpenID Connect", actor)
        return actor


def current_role(email: str) -> str | None:
    """Give back a person's role as it is now (an admin may have changed it since they signed in), or None."""
    with session_scope() as session:
        return session.scalar(select(User.role).where(User.email == (email or "").strip().lower()))
