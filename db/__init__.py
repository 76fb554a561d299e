"""Trainyard's database: tables, sessions, migrations and repositories."""
