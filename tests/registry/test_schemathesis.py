"""schemathesis against the registry's OpenAPI, with an admin token: no answer is a 5xx."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.registry.servers import Registry
from tests.registry.wheels import manifest, published


def _schemathesis() -> str:
    beside = Path(sys.executable).with_name("schemathesis")
    return str(beside) if beside.exists() else shutil.which("schemathesis") or "schemathesis"


def test_no_generated_request_gets_a_server_error(registry: Registry, tmp_path: Path) -> None:
    """Coverage, fuzzing and stateful phases over every operation (a few modules and an install exist)."""
    with registry.client("publisher", "fuzz") as client, registry.client("admin", "root") as admin:
        record = published(client, admin, manifest("fuzz-seed"))
        published(client, None, manifest("fuzz-seed", "1.1.0"))
        client.post("/installations/", json={"module_id": record["id"], "config": {}})
    command = [
        _schemathesis(), "run", f"{registry.url}/openapi.json",
        "-H", f"Authorization: Bearer {registry.token('admin', 'root')}",
        "--checks", "not_a_server_error", "--max-examples", "4", "--seed", "16", "--no-color",
    ]  # fmt: skip
    result = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )  # its caches go there
    assert result.returncode == 0, result.stdout[-4000:]
    assert registry.app.events("registry.error") == []
