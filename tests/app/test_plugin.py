"""The example plugin installs into a fresh virtualenv and runs through its entry point."""

from __future__ import annotations

import json
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

from framework.testing import write_tree

REPO = Path(__file__).resolve().parents[2]


def test_example_plugin_installs_and_runs_by_entry_point_name(tmp_path: Path) -> None:
    """`class: heartbeat` resolves through the installed plugin's entry point and runs."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    # The framework and its dependencies come from this environment (no network needed);
    # the plugin itself is really installed into the new virtualenv.
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    parents = [sysconfig.get_paths()["purelib"], *site.getsitepackages()]
    lines = [f"import site; site.addsitedir({p!r})" for p in dict.fromkeys(parents)]
    Path(purelib, "_parent_env.pth").write_text("\n".join(lines) + "\n")
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--no-deps", "-q", str(REPO / "examples" / "heartbeat-plugin")],
        capture_output=True,
        text=True,
    )
    assert install.returncode == 0, install.stderr
    write_tree(
        tmp_path / "app",
        {
            "conf/config.yaml": """
            app:
              name: plugin-demo
              duration: 0.5
            components:
              heartbeat:
                class: heartbeat
                config: {interval: 0.05, message: still here}
            """,
        },
    )
    result = subprocess.run(
        [str(python), "-m", "framework", "run", "--log-format", "json"],
        cwd=tmp_path / "app",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    beats = [
        json.loads(line)
        for line in result.stderr.splitlines()
        if "heartbeat" in line and "still here" in line
    ]
    assert len(beats) >= 3
    assert {b["component"] for b in beats} == {"heartbeat"}
