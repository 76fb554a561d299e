"""Who is acting, what their role lets them do, and the audit trail of what they did.

Every write a person starts (adding data, training, cancelling, deleting, exporting, serving, managing people)
calls `require(action)` here, in the db and engine layer, so a page that forgot to hide a button still cannot
let a viewer through; and it records the action in the audit trail with `record` or `audit`.

Who is acting: the command line and the worker act for the computer's own operator (LOCAL, an admin: whoever
can run commands here can read the database anyway). The dashboard tells this module who is signed in by
`use_actor_provider`, once per process; with sign-in off it answers LOCAL too. Work the dashboard hands to a
thread carries its actor with `acting_as`.
"""

from __future__ import annotations

import contextvars
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Iterator

from sqlalchemy import select

from db.models import ROLES, AuditEvent, datetime_iso, utcnow
from db.session import session_scope


@dataclass(frozen=True)
class Actor:
    email: str  # lower-case; "local" for this computer's operator
    role: str  # one of ROLES
    address: str | None = None  # where the request came from: a browser's address, "command line"
    name: str | None = None

    @property
    def label(self) -> str:
        return self.name or self.email


LOCAL = Actor("local", "admin", "command line")
NOBODY = Actor("nobody", "none", None)  # not signed in while sign-in is on: may do nothing

# action → (the least role that may take it, what it is in words for a refusal)
ACTIONS: dict[str, tuple[str, str]] = {
    "view": ("viewer", "look at data sets and runs"),
    "upload": ("editor", "add or clean data sets"),
    "train": ("editor", "start runs and sweeps"),
    "cancel": ("editor", "cancel runs and sweeps"),
    "edit": ("editor", "rename, tag, archive or queue runs again"),
    "export": ("editor", "export models"),
    "serve": ("editor", "start or stop model services"),
    "delete": ("admin", "delete runs and data sets"),
    "manage_users": ("admin", "add people and change their roles"),
    "audit": ("admin", "read the audit trail"),
}
ROLE_WORDS = {"viewer": "viewers browse, compare and try models", "editor": "editors also add data, train, "
              "cancel, export and serve", "admin": "admins also delete and manage people"}

# A command the dashboard runs in a child process for a signed-in person names them here (JSON of an Actor).
ACTING_AS = "TRAINYARD_ACTING_AS"

_actor: contextvars.ContextVar[Actor | None] = contextvars.ContextVar("trainyard_actor", default=None)
_provider: Callable[[], Actor | None] | None = None
_required = False  # whether nobody may act unless the provider names them (sign-in is on)


class AccessDenied(PermissionError):
    """The signed-in person's role does not allow the action; str(error) says so in plain words."""


def use_actor_provider(provider: Callable[[], Actor | None] | None, required: bool = False) -> None:
    """Tell who is acting from now on in this process (the dashboard: the session's signed-in person).

    When the provider names nobody (no session, nobody signed in), the actor is NOBODY if required (sign-in is
    on), else this computer's operator.
    """
    global _provider, _required
    _provider, _required = provider, required


def current_actor() -> Actor:
    actor = _actor.get()
    if actor is not None:
        return actor
    if _provider is None:
        return _from_environment() or LOCAL
    try:
        actor = _provider()
    except Exception:  # a broken session: it may do nothing
        return NOBODY
    return actor or (NOBODY if _required else LOCAL)


def _from_environment() -> Actor | None:
    """The person a dashboard's child process acts for (ACTING_AS), or None."""
    import json
    import os

    text = os.environ.get(ACTING_AS)
    if not text:
        return None
    try:
        fields = json.loads(text)
        return Actor(**{key: fields.get(key) for key in ("email", "role", "address", "name")})
    except (ValueError, TypeError):
        return NOBODY  # a garbled name acts for nobody rather than for this computer's operator


@contextmanager
def acting_as(actor: Actor) -> Iterator[Actor]:
    """Act as actor inside the block (a thread doing a page's work carries the page's actor)."""
    token = _actor.set(actor)
    try:
        yield actor
    finally:
        _actor.reset(token)


def allowed(action: str, actor: Actor | None = None) -> bool:
    actor = actor or current_actor()
    least = ACTIONS[action][0]
    return actor.role in ROLES and ROLES.index(actor.role) >= ROLES.index(least)


def refusal(action: str, actor: Actor | None = None) -> str | None:
    """Give back the sentence that refuses action to actor (the acting person), or None when they may take it."""
    actor = actor or current_actor()
    if allowed(action, actor):
        return None
    least, words = ACTIONS[action]
    who = "editors and admins" if least == "editor" else "admins" if least == "admin" else "signed-in people"
    if actor is NOBODY:
        return f"Sign in first: only {who} can {words}."
    return f"Only {who} can {words}; {actor.label} is signed in as a {actor.role}. Ask an admin for another role."


def require(action: str) -> Actor:
    """Give back the acting person when their role allows action; else record the attempt in the audit trail and
    raise AccessDenied in plain words."""
    actor = current_actor()
    refused = refusal(action, actor)
    if refused is None:
        return actor
    least, words = ACTIONS[action]
    audit("refused", words, f"needs the {least} role", actor)  # admins see what was tried
    raise AccessDenied(refused)


def record(session, action: str, target: str | None = None, detail: str | None = None,
           actor: Actor | None = None) -> None:
    """Add an entry to the audit trail inside an open write session (it is kept only if the work is)."""
    actor = actor or current_actor()
    session.add(AuditEvent(actor=actor.email, role=actor.role, action=action, target=(target or "")[:500] or None,
                           detail=detail, address=(actor.address or "")[:100] or None))


def audit(action: str, target: str | None = None, detail: str | None = None, actor: Actor | None = None) -> None:
    """Add an entry to the audit trail."""
    with session_scope(write=True) as session:
        record(session, action, target, detail, actor)


def audit_trail(actor: str | None = None, action: str | None = None, since: datetime | None = None,
                limit: int = 500) -> list[dict[str, Any]]:
    """Give back the newest entries of the audit trail first, optionally of one person or one action."""
    query = select(AuditEvent).order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(limit)
    if actor:
        query = query.where(AuditEvent.actor == actor.strip().lower())
    if action:
        query = query.where(AuditEvent.action == action)
    if since:
        query = query.where(AuditEvent.at >= since)
    with session_scope() as session:
        return [{"at": datetime_iso(e.at), "actor": e.actor, "role": e.role,
                 "action": e.action, "target": e.target, "detail": e.detail, "address": e.address}
                for e in session.scalars(query)]


AUDIT_ACTIONS = ("sign_in", "sign_in_failed", "sign_out", "refused", "upload", "delete_dataset", "train", "sweep", "cancel",
                 "queue_again", "archive", "delete_run", "export", "serve", "stop_service", "add_user",
                 "set_role", "remove_user")
__all__ = ["Actor", "LOCAL", "NOBODY", "ACTIONS", "AUDIT_ACTIONS", "AccessDenied", "acting_as", "allowed", "audit",
           "audit_trail", "current_actor", "record", "refusal", "require", "use_actor_provider", "utcnow"]
