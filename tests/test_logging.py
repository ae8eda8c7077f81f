"""Log lines through the real loguru sinks, console and file: no secret in a message, the details
or a traceback; the log file rotated, pruned and switched by loguru's own file sink."""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from loguru import logger

from framework import logging as framework_logging
from framework.logging import LogFile
from framework.secrets import MASK, masker
from tests.leaks import SECRETS, leaks


@pytest.fixture(autouse=True)
def quiet_loguru() -> Iterator[None]:
    """The test's sinks write to its own buffer; none is left behind."""
    yield
    framework_logging.reset()
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


def log_file(tmp_path: Path, **settings: object) -> LogFile:
    """A log file under ``tmp_path`` (logs/app.log unless ``path`` says otherwise)."""
    settings.setdefault("path", str(tmp_path / "logs" / "app.log"))
    return LogFile(**settings)  # type: ignore[arg-type]


@pytest.mark.parametrize("fmt", ["json", "text"])
@pytest.mark.parametrize("secret", SECRETS)
def test_a_secret_is_masked_in_every_part_of_a_file_line(tmp_path: Path, secret: str, fmt: str) -> None:
    """The file's lines pass through the same masker as the console's: message, details, traceback."""
    file = log_file(tmp_path, format=fmt)
    framework_logging.configure(stream=io.StringIO(), file=file)
    masker.update([secret])
    say_everything(secret)
    framework_logging.reset()  # closes the file: everything is on disk
    text = Path(file.path).read_text(encoding="utf-8")
    assert leaks(text, secret) == []
    assert "PermissionError: vault refused" in text and text.count(MASK) >= 6
    if fmt == "json":
        opened, failed = (json.loads(line) for line in text.splitlines() if line.startswith("{"))
        assert opened["password"] == MASK and opened["tries"] == [{"with": MASK}]
        assert failed["message"] == f"login failed for {MASK}" and "_file_line" not in failed
    else:
        assert f"vault      opened with {MASK}" in text.splitlines()[0]


def test_the_file_has_its_own_level_and_format(tmp_path: Path) -> None:
    """A DEBUG JSON file beside an INFO text console: each gets what its settings say."""
    console = io.StringIO()
    file = log_file(tmp_path, level="DEBUG", format="json")
    framework_logging.configure("INFO", "text", stream=console, file=file)
    logger.debug("only in the file")
    logger.info("in both")
    framework_logging.reset()
    lines = [json.loads(line) for line in Path(file.path).read_text().splitlines()]
    assert [(line["level"], line["message"]) for line in lines] == [("DEBUG", "only in the file"), ("INFO", "in both")]
    assert "only in the file" not in console.getvalue() and "in both" in console.getvalue()


def test_a_small_rotation_size_rotates_and_retention_prunes(tmp_path: Path) -> None:
    """loguru starts a new file past 300 bytes and keeps two rotated ones: three files, newest lines kept."""
    file = log_file(tmp_path, rotation="300 B", retention=2)
    framework_logging.configure(stream=io.StringIO(), file=file)
    for number in range(40):
        logger.info(f"line {number:02d} " + "x" * 40)
    framework_logging.reset()
    files = sorted(Path(file.path).parent.iterdir())
    assert len(files) == 3 and Path(file.path) in files
    assert all(f.stat().st_size <= 300 for f in files)
    assert "line 39" in Path(file.path).read_text() and not any("line 00" in f.read_text() for f in files)


def test_rotated_files_are_compressed_when_asked(tmp_path: Path) -> None:
    """compression: gz turns each rotated file into a .gz that still holds its lines."""
    file = log_file(tmp_path, rotation="300 B", retention=None, compression="gz")
    framework_logging.configure(stream=io.StringIO(), file=file)
    for number in range(10):
        logger.info(f"line {number} " + "x" * 60)
    framework_logging.reset()
    packed = sorted(Path(file.path).parent.glob("*.gz"))
    assert packed, list(Path(file.path).parent.iterdir())
    assert "line 0 " in gzip.decompress(packed[0].read_bytes()).decode()


def test_a_file_that_cannot_be_opened_changes_nothing(tmp_path: Path) -> None:
    """configure raises, and the console and the last good file keep receiving lines."""
    console, good = io.StringIO(), log_file(tmp_path)
    framework_logging.configure(stream=console, file=good)
    with pytest.raises(IsADirectoryError):
        framework_logging.configure("ERROR", stream=io.StringIO(), file=log_file(tmp_path, path=str(tmp_path)))
    logger.info("still here")
    framework_logging.reset()
    assert "still here" in Path(good.path).read_text() and "still here" in console.getvalue()


def test_an_unchanged_file_stays_open_when_the_console_changes(tmp_path: Path) -> None:
    """Reconfiguring the console leaves the file alone: with no rotation, closing it would compress it."""
    file = log_file(tmp_path, rotation=None, compression="gz")
    framework_logging.configure("INFO", stream=io.StringIO(), file=file)
    logger.info("before")
    framework_logging.configure("DEBUG", "json", stream=io.StringIO(), file=file)
    logger.info("after")
    assert list(Path(file.path).parent.glob("*.gz")) == []
    assert Path(file.path).read_text().count("INFO") == 2


def test_new_settings_for_the_same_file_keep_every_line(tmp_path: Path) -> None:
    """Same path, new level: the file is reopened in place and lines before and after are kept."""
    framework_logging.configure(stream=io.StringIO(), file=log_file(tmp_path, level="INFO"))
    logger.info("first")
    logger.debug("filtered")
    framework_logging.configure(stream=io.StringIO(), file=log_file(tmp_path, level="DEBUG"))
    logger.debug("second")
    text = Path(log_file(tmp_path).path).read_text()
    assert "first" in text and "second" in text and "filtered" not in text


def test_a_new_path_takes_the_lines_and_none_stops_the_file(tmp_path: Path) -> None:
    """Switching the path moves later lines to the new file; no file stops writing altogether."""
    one, two = log_file(tmp_path, path=str(tmp_path / "one.log")), log_file(tmp_path, path=str(tmp_path / "two.log"))
    framework_logging.configure(stream=io.StringIO(), file=one)
    logger.info("to one")
    framework_logging.configure(stream=io.StringIO(), file=two)
    logger.info("to two")
    framework_logging.configure(stream=io.StringIO(), file=None)
    logger.info("to no file")
    assert "to one" in (tmp_path / "one.log").read_text() and "to two" not in (tmp_path / "one.log").read_text()
    assert "to two" in (tmp_path / "two.log").read_text() and "no file" not in (tmp_path / "two.log").read_text()
