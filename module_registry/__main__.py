"""``python -m module_registry``: commands beside ``integrate run``.

    python -m module_registry migrate [--config-dir module_registry/conf] [overrides...]
    python -m module_registry token --role admin --company acme [--subject S] [--ttl 3600] [overrides...]

Both compose the registry's config as ``integrate`` does (files, env, overrides); ``token`` prints
the JWT alone on stdout, signed with ``components.api.config.auth.secret``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from module_registry.auth import ROLES, mint

DEFAULT_CONFIG_DIR = Path(__file__).parent / "conf"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m module_registry", description=__doc__.split("\n")[0])
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config-dir", default=str(DEFAULT_CONFIG_DIR), help="the registry's Hydra config dir"
    )
    common.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. db=postgres")
    verbs = parser.add_subparsers(dest="verb", required=True)
    verbs.add_parser("migrate", parents=[common], help="run the database migrations (alembic upgrade head)")
    token = verbs.add_parser("token", parents=[common], help="mint a JWT and print it")
    token.add_argument("--role", required=True, choices=ROLES)
    token.add_argument("--company", required=True, help="the company_id claim")
    token.add_argument("--subject", default="cli", help="the sub claim")
    token.add_argument("--ttl", type=float, default=3600.0, help="seconds the token is valid")
    return parser


def _component_config(args: argparse.Namespace, name: str) -> dict[str, Any]:
    from framework import ConfigSource, load_config

    snapshot = load_config(
        ConfigSource(config_dir=Path(args.config_dir).resolve(), overrides=tuple(args.overrides))
    )
    return dict(snapshot.data["components"][name]["config"])


async def _migrate(config: dict[str, Any]) -> str | None:
    from module_registry.database import create_engine
    from module_registry.migrate import upgrade

    engine = create_engine(config)
    try:
        return await upgrade(engine)
    finally:
        await engine.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from sqlalchemy.exc import SQLAlchemyError

    from framework import ConfigError

    try:
        if args.verb == "token":
            auth = _component_config(args, "api")["auth"]
            print(mint(auth["secret"], args.role, args.company, args.subject, args.ttl, auth["algorithm"]))
            return 0
        revision = asyncio.run(_migrate(_component_config(args, "database")))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (OSError, SQLAlchemyError) as exc:
        print(f"error: the database is unreachable: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(f"database at revision {revision}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
