"""Alembic migrations of the registry's database (run at start, or by `python -m module_registry migrate`)."""
