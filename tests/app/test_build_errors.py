"""A constructor that raises at launch: one screen naming the values it mentions, secrets masked."""

from __future__ import annotations

from pathlib import Path

from framework.testing import integrate, write_tree

MODULE = '''
class Picky:
    config_schema = {
        "token": {"type": "string", "secret": True, "default": "tok-zq7x-secret-value"},
        "mode": {"type": "string", "default": "strict"},
    }

    def __init__(self, config):
        raise ValueError(f"mode {config['mode']} cannot use token {config['token']}")

    async def start(self):
        pass

    async def stop(self):
        pass
'''


def test_a_constructor_error_masks_the_secret_it_quotes(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "picky/__init__.py": MODULE,
            "conf/config.yaml": """
                app:
                  name: picky
                  env_prefix: PICKY
                  allowed_packages: [picky]
                components:
                  picky:
                    class: picky.Picky
                    config:
                      mode: lax
                """,
        },
    )
    result = integrate("run", cwd=tmp_path, env={"PICKY__COMPONENTS__PICKY__CONFIG__TOKEN": "tok-zq7x-from-env"})
    assert result.returncode == 1, result.stderr
    assert "zq7x" not in result.stderr and "Traceback" not in result.stderr
    assert result.stderr.endswith(
        "error: component 'picky' could not be built: ValueError: mode lax cannot use token ***\n"
        "  components.picky.config.mode = \"lax\" (conf/config.yaml:9)\n"
        "  components.picky.config.token = *** (env PICKY__COMPONENTS__PICKY__CONFIG__TOKEN)\n"
    )
