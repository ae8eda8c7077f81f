"""`python -m module_registry token|migrate`, and a bad registry config answered like any app's."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import jwt
import pytest

from tests.registry.servers import CONF, SECRET, db_overrides, environment, fresh_database, require_postgres


def _command(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "module_registry", *args, "--config-dir", str(CONF)],
        cwd=cwd, env={**os.environ, **(env if env is not None else environment())},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_token_prints_a_token_signed_with_the_configured_secret(tmp_path: Path) -> None:
    """The token alone on stdout, with sub, role, company_id and exp, verifiable with the secret."""
    result = _command(
        "token", "--role", "publisher", "--company", "acme", "--subject", "ada", "--ttl", "60", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    claims = jwt.decode(result.stdout.strip(), SECRET, algorithms=["HS256"])
    assert (claims["sub"], claims["role"], claims["company_id"]) == ("ada", "publisher", "acme")
    assert SECRET not in result.stdout + result.stderr


def test_migrate_brings_a_sqlite_file_to_head(tmp_path: Path) -> None:
    """`migrate` creates var/registry.sqlite3 at the head revision (a registry started on it finds it there)."""
    first = _command("migrate", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "database at revision 0002"
    assert (tmp_path / "var" / "registry.sqlite3").exists()


@pytest.mark.postgres
def test_migrate_on_postgres(tmp_path: Path) -> None:
    """`migrate db=postgres` on a fresh database."""
    require_postgres()
    with fresh_database() as database:
        result = _command("migrate", *db_overrides("postgres", database), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "revision 0002" in result.stdout


def _check(*overrides: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "framework", "check", "--config-dir", str(CONF), *overrides],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_a_missing_or_short_jwt_secret_is_the_one_screen_config_error(tmp_path: Path) -> None:
    """`integrate check` and `token` exit 2 naming the key, never showing the value; all problems at once."""
    without = {key: value for key, value in os.environ.items() if key != "REGISTRY_JWT_SECRET"}
    missing = _command("token", "--role", "admin", "--company", "x", cwd=tmp_path, env=without)
    assert missing.returncode == 2, missing.stderr
    assert "components.api.config.auth.secret" in missing.stderr
    short = _check(
        "components.api.config.port=99999",
        cwd=tmp_path,
        env={**without, "REGISTRY_JWT_SECRET": "short-Secret-9"},
    )
    shown = short.stderr + short.stdout
    assert short.returncode == 2
    assert "components.api.config.auth.secret" in shown and "components.api.config.port" in shown
    assert "short-Secret-9" not in shown
