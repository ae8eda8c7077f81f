"""Live edits of the shipped app's YAML: applied without a restart, or rejected safely."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from framework.testing import edit_and_wait, run_app

REPO = Path(__file__).resolve().parents[2]


def readme_edits() -> list[str]:
    """The walkthrough's `sed` edits of the analyzer, in order."""
    return re.findall(r"^(sed -i .+analyzer\.yaml)", (REPO / "README.md").read_text(), re.MULTILINE)


def test_readme_walkthrough_edits_apply_and_reject(tmp_path: Path) -> None:
    """The README's live edit applies without a restart; its bad edit is rejected; undoing works."""
    shutil.copytree(REPO / "conf", tmp_path / "conf")
    good, bad, back = readme_edits()

    def sh(command: str) -> None:
        subprocess.run(["bash", "-c", command], cwd=tmp_path, check=True)

    with run_app("profile=fast", f"components.storage.config.path={tmp_path / 'm.db'}", "~components.admin",
                 cwd=tmp_path, env={"PYTHONPATH": str(REPO)}) as app:
        applied = edit_and_wait(app, lambda: sh(good))
        assert applied["event"] == "config.reloaded"
        app.wait_for(lambda line: "(fast=3 slow=20)" in line["message"], 20)
        rejected = edit_and_wait(app, lambda: sh(bad))
        assert rejected["event"] == "config.rejected"
        assert any("must be >= 1 (got -2) [conf/components/analyzer.yaml:5]" in r for r in rejected["reasons"])
        assert edit_and_wait(app, lambda: sh(back))["event"] == "config.reloaded"


def test_analyzer_window_edit_applies_live_and_bad_edit_is_rejected(tmp_path: Path) -> None:
    """Changing the analyzer's windows changes its signals at once; a bad edit keeps them."""
    conf = tmp_path / "conf"
    shutil.copytree(REPO / "conf", conf)
    analyzer = conf / "components" / "analyzer.yaml"
    with run_app("--config-dir", str(conf), "profile=fast", f"components.storage.config.path={tmp_path / 'm.db'}",
                 "~components.admin", cwd=REPO) as app:
        app.wait_for(lambda line: line["message"].startswith("signal ") and "fast=5 slow=20" in line["message"], 20)
        outcome = edit_and_wait(app, lambda: analyzer.write_text(
            analyzer.read_text().replace("fast_window: 5", "fast_window: 3").replace("slow_window: 20", "slow_window: 8")))
        assert outcome["event"] == "config.reloaded", outcome
        assert any(a["target"] == "analyzer" and a["action"] == "reconfigure" for a in outcome["actions"])
        app.wait_for(lambda line: "fast=3 slow=8" in line["message"], 20)
        assert not [e for e in app.events("component.stopping") if e["component"] == "analyzer"]

        bad = edit_and_wait(app, lambda: analyzer.write_text(analyzer.read_text().replace("fast_window: 3", "fast_window: -2")))
        assert bad["event"] == "config.rejected"
        assert any("components.analyzer.config.fast_window: must be >= 1 (got -2)" in r and "analyzer.yaml:5" in r
                   for r in bad["reasons"])
        app.wait_for(lambda line: "fast=3 slow=8" in line["message"], 20)  # still the last good windows

        refused = edit_and_wait(app, lambda: analyzer.write_text(analyzer.read_text().replace("fast_window: -2", "fast_window: 50")))
        assert refused["event"] == "config.rejected"  # the analyzer's validate_config refuses fast >= slow
        assert any("components.analyzer.config.fast_window: must be smaller than slow_window (8) (got 50)" in r
                   and "analyzer.yaml:5" in r for r in refused["reasons"])
