"""A plain Hydra config dir composes exactly as Hydra itself composes it."""

from __future__ import annotations

import json
from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from framework.assembly import framework_sections
from framework.testing import integrate, write_tree

PLAIN = {
    "config.yaml": """
        defaults:
          - model: resnet
          - optional site: local
          - _self_
        trainer:
          epochs: 10
          lr: 0.1
          devices: [0, 1]
        paths:
          root: /data
          out: ${paths.root}/out
        """,
    "model/resnet.yaml": "name: resnet\ndepth: 50\n",
    "model/vit.yaml": "name: vit\npatch: 16\n",
    "site/local.yaml": "# @package _global_\ntrainer:\n  epochs: 2\n",
}


def test_plain_hydra_dir_matches_hydra_compose(config_dir: Path) -> None:
    """User sections pass through untouched: same values as hydra.compose with the same overrides."""
    write_tree(config_dir, PLAIN)
    overrides = ["model=vit", "trainer.lr=0.5", "+trainer.seed=7"]
    with initialize_config_dir(config_dir=str(config_dir), version_base=None):
        expected = OmegaConf.to_container(compose("config", overrides=overrides), resolve=True)
    result = integrate("show", "--format", "json", *overrides, cwd=config_dir.parent)
    assert result.returncode == 0, result.stderr
    ours = json.loads(result.stdout)
    for section in framework_sections():
        ours.pop(section)
    assert ours == expected
