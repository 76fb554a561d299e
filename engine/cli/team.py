"""Command line for teams: `users add|list|set-role|remove` and `audit` (db/accounts.py, db/access.py)."""

from __future__ import annotations

import getpass
import sys
from datetime import timedelta

from engine.cli.common import emit, ready, table_text
from engine.errors import UserError


def _accounts():
    from db import accounts

    ready()
    return accounts


def _read_password() -> str:
    """Read a new password from standard input: typed twice at a terminal, else the first line of what is piped."""
    if sys.stdin is None:
        raise UserError("Give the password on standard input, for example: printf '%s\\n' \"$PASSWORD\" | "
                        "python -m engine users add ana@example.com --role editor")
    if sys.stdin.isatty():
        first = getpass.getpass("Password (10 characters or more): ")
        if getpass.getpass("The same password again: ") != first:
            raise UserError("The two passwords differ; nothing was changed. Try again.")
        return first
    line = sys.stdin.readline()
    if not line:
        raise UserError("No password came on standard input; pipe it in, or use --no-password for a person who "
                        "signs in through your OpenID Connect provider.")
    return line.rstrip("\r\n")


def cmd_users_add(args) -> None:
    accounts = _accounts()
    password = None if args.no_password else _read_password()
    try:
        user = accounts.add_user(args.email, args.role, password, args.name)
    except accounts.AccountError as error:
        raise UserError(str(error)) from None
    emit(args, user, f"Added {user['email']} as {user['role']}"
                     + (" with a password." if user["password"] else "; they sign in through the OpenID Connect "
                                                                       "provider."))


def cmd_users_list(args) -> None:
    accounts = _accounts()
    users = accounts.list_users()
    emit(args, users, table_text([[u["email"], u["role"], u["name"] or "", "password" if u["password"] else "provider",
                               u["last_sign_in_at"] or "never"] for u in users],
                             ["EMAIL", "ROLE", "NAME", "SIGNS IN WITH", "LAST SIGN-IN"]) if users else
         "No accounts yet. Add one with `python -m engine users add EMAIL --role admin`.")


def cmd_users_set_role(args) -> None:
    accounts = _accounts()
    try:
        user = accounts.set_role(args.email, args.role)
    except accounts.AccountError as error:
        raise UserError(str(error)) from None
    emit(args, user, f"{user['email']} is now {user['role']}.")


def cmd_users_remove(args) -> None:
    accounts = _accounts()
    if not args.yes:
        raise UserError(f"This removes {args.email}'s account (the runs and data sets they made stay). Add --yes "
                        "to do it.")
    try:
        accounts.remove_user(args.email)
    except accounts.AccountError as error:
        raise UserError(str(error)) from None
    emit(args, {"removed": args.email.strip().lower()}, f"Removed {args.email.strip().lower()}.")


def cmd_audit(args) -> None:
    from db import access

    ready()
    access.require("audit")
    if args.action and args.action not in access.AUDIT_ACTIONS:
        raise UserError(f"'{args.action}' is not an action of the audit trail; use one of: "
                        f"{', '.join(access.AUDIT_ACTIONS)}.")
    if args.days is not None and args.days <= 0:
        raise UserError(f"'--days {args.days}' covers no time: give a number of days above 0, for example --days 7.")
    if args.limit < 1:
        raise UserError(f"'--limit {args.limit}' shows nothing: give 1 or more, for example --limit 50.")
    from db.models import utcnow

    since = utcnow() - timedelta(days=args.days) if args.days else None
    events = access.audit_trail(actor=args.user, action=args.action, since=since, limit=args.limit)
    emit(args, events, table_text([[e["at"], e["actor"], e["role"], e["action"], e["target"] or "", e["detail"] or "",
                                e["address"] or ""] for e in events],
                              ["WHEN (UTC)", "WHO", "ROLE", "ACTION", "ON", "DETAIL", "FROM"]) if events else
         "Nothing in the audit trail matches.")


def register(commands, command) -> None:
    from db.models import ROLES

    users = commands.add_parser("users", help="people who sign in, and their roles").add_subparsers(
        dest="sub", required=True)
    add = command(users, "add", cmd_users_add, "add a person; the password is read from standard input")
    add.add_argument("email", metavar="EMAIL")
    add.add_argument("--role", choices=ROLES, default="viewer",
                     help="viewer: browse and compare; editor: also add data, train, export and serve; "
                          "admin: also delete and manage people (default viewer)")
    add.add_argument("--name", help="the name shown on the pages")
    add.add_argument("--no-password", action="store_true", dest="no_password",
                     help="no local password: the person signs in through the OpenID Connect provider")
    command(users, "list", cmd_users_list, "list the people who may sign in")
    role = command(users, "set-role", cmd_users_set_role, "change a person's role")
    role.add_argument("email", metavar="EMAIL")
    role.add_argument("role", choices=ROLES)
    remove = command(users, "remove", cmd_users_remove, "remove a person's account")
    remove.add_argument("email", metavar="EMAIL")
    remove.add_argument("--yes", action="store_true", help="confirm")

    audit = command(commands, "audit", cmd_audit, "who uploaded, trained, cancelled, deleted, exported, served or "
                                                  "changed a role, newest first")
    audit.add_argument("--user", help="only this person's actions (their email, or 'local' for this computer)")
    audit.add_argument("--action", help="only this action, e.g. delete_run or set_role")
    audit.add_argument("--days", type=float, help="only the last DAYS days")
    audit.add_argument("--limit", type=int, default=200)
