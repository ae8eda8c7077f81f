"""The `integrate` command: run, check, show, explain, graph."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from framework.app import App
from framework.assembly import assemble, load
from framework.config.compose import ConfigSource
from framework.config.explain import explain, explain_text
from framework.config.provenance import leaves
from framework.config.schema import MASK
from framework.config.snapshot import Snapshot, is_secret
from framework.errors import ComponentStartError, ConfigError
from framework.graph import render
from framework.logging import configure as configure_logging
from framework.logging import masker

EXIT_CONFIG = 2  # the config (or the command line) is wrong
EXIT_RUNTIME = 1  # the app failed while starting or running


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    # Overrides may sit between options (`explain k --format json a=1`): collect the strays.
    args, strays = parser.parse_known_args(argv)
    unknown = [s for s in strays if s.startswith("-")]
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if strays:
        args.overrides = [*getattr(args, "overrides", []), *strays]
    try:
        code: int = args.handler(args)
        return code
    except ConfigError as exc:
        _fail(str(exc))
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output piped into `head` and the like
        return 0


def _fail(message: str) -> None:
    print(f"error: {masker(message)}", file=sys.stderr)


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config-dir", default="conf", help="folder holding the YAML (default: ./conf)")
    common.add_argument("--config-name", default="config", help="primary config file, no .yaml (default: config)")
    common.add_argument("--env-prefix", default=None, help="env var prefix (default: app.env_prefix)")
    common.add_argument(
        "overrides",
        nargs="*",
        help="Hydra overrides: key=value, +key=value, ++key=value, ~key, group=option",
    )
    parser = argparse.ArgumentParser(
        prog="integrate", description="Run and inspect a configuration-driven integration app."
    )
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    show = verbs.add_parser("show", parents=[common], help="print the composed, validated config")
    show.add_argument("--format", choices=["yaml", "json"], default="yaml")
    show.add_argument("--provenance", action="store_true", help="say where each value came from")
    show.set_defaults(handler=_show)

    explain_verb = verbs.add_parser("explain", parents=[common], help="why a key has its value")
    explain_verb.add_argument("key", help="dotted key, e.g. app.name")
    explain_verb.add_argument("--format", choices=["text", "json"], default="text")
    explain_verb.set_defaults(handler=_explain)

    check = verbs.add_parser("check", parents=[common], help="validate without starting anything")
    check.add_argument("--format", choices=["text", "json"], default="text")
    check.set_defaults(handler=_check)

    run = verbs.add_parser("run", parents=[common], help="build and run the app until stopped")
    run.add_argument("--log-level", default=None, help="overrides logging.level")
    run.add_argument("--log-format", choices=["text", "json"], default=None, help="overrides logging.format")
    run.set_defaults(handler=_run)

    graph = verbs.add_parser("graph", parents=[common], help="print the dependency graph and start order")
    graph.add_argument("--format", choices=["text", "dot", "mermaid", "json"], default="text")
    graph.set_defaults(handler=_graph)
    return parser


def _source(args: argparse.Namespace) -> ConfigSource:
    return ConfigSource(
        config_dir=Path(args.config_dir),
        config_name=args.config_name,
        overrides=tuple(args.overrides),
        env_prefix=args.env_prefix,
        environ=dict(os.environ),
    )


def _load(args: argparse.Namespace) -> Snapshot:
    return load(_source(args))


def _show(args: argparse.Namespace) -> int:
    snapshot = _load(args)
    if args.provenance:
        rows = _provenance_rows(snapshot)
        if args.format == "json":
            print(json.dumps(rows, indent=2, default=str))
        else:
            width = max((len(r["key"]) for r in rows), default=0)
            for r in rows:
                print(f"{r['key']:<{width}} = {json.dumps(r['value'], default=str)}  # {r['where']}")
        return 0
    data = snapshot.masked()
    if args.format == "json":
        print(json.dumps(data, indent=2, default=str))
    else:
        print(yaml.safe_dump(data, sort_keys=False, default_flow_style=False).rstrip())
    return 0


def _provenance_rows(snapshot: Snapshot) -> list[dict[str, Any]]:
    rows = []
    for path, value in leaves(snapshot.masked()):
        origin = snapshot.provenance.winner(path)
        secret = is_secret(path, snapshot.secrets)
        rows.append(
            {
                "key": ".".join(path),
                "value": MASK if secret else value,
                "layer": origin.layer.value if origin else None,
                "where": origin.shown(secret) if origin else "unknown",
            }
        )
    return rows


def _explain(args: argparse.Namespace) -> int:
    report = explain(_load(args), args.key)
    print(json.dumps(report, indent=2, default=str) if args.format == "json" else explain_text(report))
    return 0


def _check(args: argparse.Namespace) -> int:
    try:
        snapshot = _load(args)
        assembly = assemble(snapshot)
    except ConfigError as exc:
        if args.format != "json":
            raise
        print(json.dumps({"ok": False, "errors": str(exc).splitlines()}, indent=2))
        return EXIT_CONFIG
    summary = {
        "ok": True,
        "config_dir": str(Path(args.config_dir)),
        "keys": sum(1 for _ in leaves(snapshot.data)),
        "components": len(snapshot.section("components")),
        "start_order": list(assembly.graph.order),
        "hash": snapshot.digest[:12],
    }
    if args.format == "json":
        print(json.dumps(summary, indent=2))
    else:
        print(
            f"OK: {summary['config_dir']}/{args.config_name}.yaml is valid"
            f" ({summary['keys']} keys, {summary['components']} components, hash {summary['hash']})"
        )
    return 0


def _graph(args: argparse.Namespace) -> int:
    print(render(assemble(_load(args)).graph, args.format))
    return 0


def _run(args: argparse.Namespace) -> int:
    configure_logging(args.log_level or "INFO", args.log_format or "text")
    app = App(_source(args))
    settings = app.snapshot.section("logging")
    configure_logging(args.log_level or settings["level"], args.log_format or settings["format"])
    try:
        asyncio.run(app.run(app.snapshot.section("app")["duration"]))
    except ComponentStartError as exc:
        _fail(str(exc))
        return EXIT_RUNTIME
    return 0



