"""Fixtures for the whole suite: every test starts from the same process-wide state."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from framework import assembly, registry, secrets
from framework import logging as framework_logging


@pytest.fixture(autouse=True)
def clean_process_state() -> Iterator[None]:
    """Forget what an earlier test taught the process: secrets to mask, resolved classes, sections,
    the log handlers (an open log file among them).

    The masker learns each committed snapshot's secret values, the registry caches resolved
    classes and the entry points it found and learns the project folders it imports from, and
    the framework's section table is built once; a test that left any of them changed would
    make the next one pass or fail by order.
    """
    yield
    secrets.reset_masker()
    registry.reset()
    assembly.framework_sections.cache_clear()
    framework_logging.reset()
