"""A fixture app builder: components with configurable behaviour, in their own package."""

from __future__ import annotations

from pathlib import Path

import pytest

from framework.testing import write_tree

FIXTURE_MODULE = '''
import asyncio
import hashlib
from typing import Protocol


class Greeter(Protocol):
    async def greet(self, name: str) -> str: ...


class Probe:
    """Does what its config says at start and stop, so tests can provoke every path."""

    version = "1.5.0"
    config_schema = {
        "start_delay": {"type": "number", "default": 0},
        "fail_start": {"type": "boolean", "default": False},
        "fail_stop": {"type": "boolean", "default": False},
        "stop_delay": {"type": "number", "default": 0},
        "password": {"type": "string", "secret": True, "nullable": True, "default": None},
    }

    def __init__(self, config, logger, name):
        self.config, self.log, self.name = config, logger, name

    async def start(self):
        await asyncio.sleep(self.config["start_delay"])
        if self.config["fail_start"]:
            raise RuntimeError(f"{self.name} cannot connect (password {self.config['password']})")
        self.log.info(f"probe {self.name} up; password is {self.config['password']}")

    async def stop(self):
        await asyncio.sleep(self.config["stop_delay"])
        if self.config["fail_stop"]:
            raise RuntimeError(f"{self.name} stop exploded")


class Chatty(Probe):
    """Says its password every way a careless component could: message, details, a traceback."""

    async def start(self):
        password = self.config["password"]
        digest = hashlib.sha256(password.encode()).hexdigest()[:12]  # proves which value it saw
        self.log.bind(event="chatty.up", password=password, tries=[{"with": password}], digest=digest).info(
            f"chatty {self.name} has {password} ({password!r})")
        try:
            raise PermissionError(f"refused {password!r}")
        except PermissionError:
            self.log.exception(f"login failed for {password}")
        await super().start()


class Friendly(Probe):
    provides = (Greeter,)

    async def greet(self, name: str) -> str:
        return f"hello {name}"


class Rude(Probe):
    provides = (Greeter,)

    def greet(self, name: str) -> str:  # sync where the contract is async
        return "go away"


class Caller(Probe):
    def __init__(self, config, logger, name, friend: Greeter):
        super().__init__(config, logger, name)
        self.friend = friend


class NeedsUnknown(Probe):
    def __init__(self, config, database):
        self.config = config


not_a_class = 42
'''


def make_app(root: Path, components: str, app_extra: str = "") -> Path:
    """A project dir with package `fx` and conf/config.yaml holding the given components YAML."""
    write_tree(root, {"fx/__init__.py": FIXTURE_MODULE})
    (root / "conf").mkdir(exist_ok=True)
    (root / "conf" / "config.yaml").write_text(
        "app:\n  name: fixture\n  allowed_packages: [fx]\n  stop_timeout: 2\n  start_timeout: 2\n"
        + app_extra
        + "components:\n"
        + components
    )
    return root


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return tmp_path
