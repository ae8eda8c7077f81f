"""GET /asyncapi.json: the running config's AsyncAPI document, as `integrate asyncapi` writes it."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

from tests.admin.conftest import serving


def test_the_admin_api_serves_the_same_document_as_the_cli(project: Path) -> None:
    async def scenario() -> tuple[int, dict[str, object]]:
        async with serving(project) as (_, client):
            response = await client.get("/asyncapi.json")
            return response.status_code, response.json()

    status, served = asyncio.run(scenario())
    done = subprocess.run([sys.executable, "-m", "framework", "asyncapi"], cwd=project, capture_output=True,
                          text=True, timeout=60)
    assert status == 200 and done.returncode == 0, done.stderr
    assert served == json.loads(done.stdout)
    assert served["asyncapi"] == "3.0.0" and "config_rejected" in served["channels"]  # type: ignore[operator]
