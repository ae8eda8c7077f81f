"""The `logging` section: the log file's values are judged as loguru's file sink judges them."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from loguru import logger

from framework.config.schema import normalize
from framework.log_settings import COMPRESSIONS, LOGGING_SCHEMA, LogSettings
from framework.logging import LogFile

ROTATIONS = ["10 MB", "1.5 GiB", "500 KB", "1 day", "12 hours", "1 week, 2 days", "daily", "weekly",
             "00:00", "monday at 12:00", "w0", "10 parsecs", "500", "ten MB", "", "every tuesday"]
RETENTIONS = ["7 days", "1 week", "2 weeks, 3 days", "10 MB", "7 parsecs", "forever", ""]


def problems(file: dict[str, Any] | None) -> dict[str, str]:
    """The problems `check` would report for this `logging.file`, by key below it."""
    _, found = normalize({"file": file}, LOGGING_SCHEMA)
    return {".".join(p.path[1:]): p.text for p in found}


def loguru_accepts(tmp_path: Path, **options: Any) -> bool:
    """Whether loguru's own `logger.add` takes these file-sink options (delay: no file is made)."""
    try:
        handler = logger.add(tmp_path / "probe.log", delay=True, **options)
    except (ValueError, TypeError):
        return False
    logger.remove(handler)
    return True


@pytest.mark.parametrize("rotation", ROTATIONS)
def test_a_rotation_passes_exactly_when_loguru_accepts_it(tmp_path: Path, rotation: str) -> None:
    """The check calls loguru's own parser: it can neither refuse what loguru takes nor let through what it refuses."""
    refused = "rotation" in problems({"rotation": rotation})
    assert refused is not loguru_accepts(tmp_path, rotation=rotation)


@pytest.mark.parametrize("retention", RETENTIONS)
def test_a_retention_passes_exactly_when_loguru_accepts_it(tmp_path: Path, retention: str) -> None:
    """Retention strings are read by loguru's own parser too."""
    refused = "retention" in problems({"retention": retention})
    assert refused is not loguru_accepts(tmp_path, retention=retention)


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_every_accepted_compression_is_one_loguru_takes(tmp_path: Path, compression: str) -> None:
    """The list `check` accepts holds only formats loguru's file sink can write."""
    assert problems({"compression": compression}) == {}
    assert loguru_accepts(tmp_path, compression=compression)


def test_a_bad_rotation_names_loguru_s_reason_and_what_is_accepted() -> None:
    """The message quotes the unit loguru could not read and lists the forms it takes."""
    message = problems({"rotation": "10 parsecs"})["rotation"]
    assert "'parsecs'" in message and "'10 MB'" in message and "daily" in message and "null" in message


def test_retention_takes_a_count_of_files_but_not_a_boolean() -> None:
    """`retention: 10` keeps ten rotated files; `true` is refused rather than read as 1."""
    assert problems({"retention": 10}) == {}
    assert "boolean" in problems({"retention": True})["retention"]
    assert "retention" in problems({"retention": -1})


def test_a_directory_is_refused_as_the_log_path(tmp_path: Path) -> None:
    """A folder cannot be the log file; the message says to name a file in it."""
    assert "is a directory" in problems({"path": str(tmp_path)})["path"]


def test_a_path_under_a_regular_file_is_refused(tmp_path: Path) -> None:
    """loguru would have to make a folder where a file stands."""
    (tmp_path / "plain").write_text("")
    message = problems({"path": str(tmp_path / "plain" / "logs" / "app.log")})["path"]
    assert message == f"cannot be created: {tmp_path / 'plain'} is a file, not a folder"


def test_a_fifo_is_refused_as_the_log_path(tmp_path: Path) -> None:
    """Opening a FIFO to append blocks until a reader comes: refused before anything opens it."""
    os.mkfifo(tmp_path / "pipe")
    assert "not a regular file" in problems({"path": str(tmp_path / "pipe")})["path"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write to any folder")
def test_a_folder_this_process_may_not_write_to_is_refused(tmp_path: Path) -> None:
    """The nearest existing folder decides, since loguru makes the missing ones."""
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    assert "may not write to the folder" in problems({"path": str(locked / "new" / "app.log")})["path"]


def test_missing_folders_are_fine_since_loguru_makes_them(tmp_path: Path) -> None:
    """A path whose folders do not exist yet passes: opening it creates them."""
    assert problems({"path": str(tmp_path / "var" / "log" / "app.log")}) == {}


def test_only_loguru_s_time_placeholder_may_stand_in_braces(tmp_path: Path) -> None:
    """`{time}` is filled in by loguru; any other field would fail when the file is opened."""
    assert problems({"path": str(tmp_path / "app_{time:YYYY-MM-DD}.log")}) == {}
    assert "only {time}" in problems({"path": str(tmp_path / "app_{pid}.log")})["path"]
    assert "unbalanced braces" in problems({"path": str(tmp_path / "app_{.log")})["path"]


def test_a_refused_path_is_judged_again_once_the_folder_is_fixed(tmp_path: Path) -> None:
    """A failure is not remembered: a reload after the user fixed the file system sees the fix."""
    target = tmp_path / "app.log"
    target.mkdir()
    assert "path" in problems({"path": str(target)})
    target.rmdir()
    assert problems({"path": str(target)}) == {}


def test_file_null_and_a_missing_path_both_mean_no_log_file() -> None:
    """`logging.file: null` is off, as is a `file` section without a path (the default)."""
    for file in (None, {}, {"rotation": "1 day"}):
        section, found = normalize({"file": file}, LOGGING_SCHEMA)
        assert found == [] and LogSettings.from_section(section).file is None


def test_the_file_follows_the_console_unless_it_names_its_own_level_and_format() -> None:
    """level/format null take the console's, command-line overrides included; set, they are the file's own."""
    section, _ = normalize({"level": "warning", "file": {"path": "app.log"}}, LOGGING_SCHEMA)
    assert LogSettings.from_section(section).file == LogFile("app.log", "WARNING", "text", "10 MB", "7 days")
    followed = LogSettings.from_section(section, level="DEBUG", fmt="json").file
    assert followed is not None and (followed.level, followed.format) == ("DEBUG", "json")
    section, _ = normalize({"file": {"path": "app.log", "level": "error", "format": "json"}}, LOGGING_SCHEMA)
    own = LogSettings.from_section(section, level="DEBUG", fmt="text").file
    assert own is not None and (own.level, own.format) == ("ERROR", "json")
