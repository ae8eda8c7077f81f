"""Log lines through the real loguru sinks: no secret in a message, the details or a traceback."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest
from loguru import logger

from framework import logging as framework_logging
from framework.secrets import MASK, masker
from tests.leaks import SECRETS, leaks


@pytest.fixture(autouse=True)
def quiet_loguru() -> Iterator[None]:
    """The test's sinks write to its own buffer; none is left behind."""
    yield
    logger.remove()


def say_everything(secret: str) -> None:
    """Log the secret every way a careless component could: message, details, a traceback."""
    log = logger.bind(component="vault")
    log.bind(event="vault.opened", password=secret, tries=[{"with": secret}]).info(
        f"opened with {secret} ({secret!r})"
    )
    try:
        raise PermissionError(f"vault refused {secret!r}")
    except PermissionError:
        log.exception(f"login failed for {secret}")


@pytest.mark.parametrize("fmt", ["json", "text"])
@pytest.mark.parametrize("secret", SECRETS)
def test_a_secret_is_masked_in_every_part_of_a_line(secret: str, fmt: str) -> None:
    """Message, details (the extras) and traceback are masked, whatever characters the secret holds."""
    out = io.StringIO()
    framework_logging.configure(fmt=fmt, stream=out)
    masker.update([secret])
    say_everything(secret)
    text = out.getvalue()
    assert leaks(text, secret) == []
    assert "PermissionError: vault refused" in text and text.count(MASK) >= 6
    if fmt == "json":
        opened, failed = (json.loads(line) for line in text.splitlines() if line.startswith("{"))
        assert opened["password"] == MASK and opened["tries"] == [{"with": MASK}]
        assert failed["message"] == f"login failed for {MASK}"
