"""The `integrate` command: run, check, show, explain, graph, docs, schema, asyncapi; and the verbs
that ask a running app.

What only one verb needs (the asyncapi, docs and schema writers) is imported by that verb, so
`run` starts without it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

import framework.loguru_bare  # noqa: F401  (first: before any module imports loguru)
from framework.app import App
from framework.assembly import assemble, load_config
from framework.bounded import run as run_bounded
from framework.config.compose import ConfigSource
from framework.config.explain import explain, explain_text, provenance_rows
from framework.config.files import DEFAULT_MAX_FILE_BYTES
from framework.config.plain import leaves
from framework.config.snapshot import Snapshot
from framework.errors import ComponentBuildError, ComponentStartError, ConfigError
from framework.fleet.verbs import add_verbs as add_fleet_verbs
from framework.graph import render
from framework.log_settings import LogSettings
from framework.logging import configure as configure_logging
from framework.remote import add_verbs as add_remote_verbs
from framework.secrets import masker
from framework.terminal import EXIT_CONFIG, EXIT_RUNTIME, fail


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = _parser(argv[0] if argv else None)
    # Overrides may sit between options (`explain k --format json a=1`): collect the strays.
    args, strays = parser.parse_known_args(argv)
    unknown = [s for s in strays if s.startswith("-")]
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if strays:
        args.overrides = [*getattr(args, "overrides", []), *strays]
    if args.handler is not _run:  # `run` configures logging from --log-* and the config
        configure_logging("INFO", "text")
    try:
        code: int = args.handler(args)
        return code
    except ConfigError as exc:
        fail(str(exc))
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output piped into `head` and the like
        return 0


def _parser(verb: str | None = None) -> argparse.ArgumentParser:
    """Every verb's parser; only this module's own when ``verb`` is one of them: the verbs that
    ask a running app or a fleet cost ``integrate run`` twice what its own parser does."""
    common = _common_options()
    parser = argparse.ArgumentParser(
        prog="integrate", description="Run and inspect a configuration-driven integration app."
    )
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    show = verbs.add_parser("show", parents=[common], help="print the composed, validated config")
    show.add_argument("--format", choices=["yaml", "json"], default="yaml")
    show.add_argument("--provenance", action="store_true", help="say where each value came from")
    _add_overrides(show)
    show.set_defaults(handler=_show)

    explain_verb = verbs.add_parser("explain", parents=[common], help="why a key has its value")
    explain_verb.add_argument("key", help="dotted key, e.g. app.name")
    _add_overrides(explain_verb)
    explain_verb.add_argument("--format", choices=["text", "json"], default="text")
    explain_verb.set_defaults(handler=_explain)

    check = verbs.add_parser("check", parents=[common], help="validate without starting anything")
    check.add_argument("--format", choices=["text", "json"], default="text")
    _add_overrides(check)
    check.set_defaults(handler=_check)

    run = verbs.add_parser("run", parents=[common], help="build and run the app until stopped")
    run.add_argument("--log-level", default=None, help="overrides logging.level")
    run.add_argument("--log-format", choices=["text", "json"], default=None, help="overrides logging.format")
    _add_overrides(run)
    run.set_defaults(handler=_run)

    graph = verbs.add_parser("graph", parents=[common], help="print the dependency graph and start order")
    graph.add_argument("--format", choices=["text", "dot", "mermaid", "json"], default="text")
    _add_overrides(graph)
    graph.set_defaults(handler=_graph)

    docs = verbs.add_parser("docs", parents=[common], help="print a reference of every config key")
    docs.add_argument("--format", choices=["markdown", "json"], default="markdown")
    _add_overrides(docs)
    docs.set_defaults(handler=_docs)

    schema = verbs.add_parser("schema", parents=[common], help="write JSON Schemas of the YAML files, for editors")
    schema.add_argument("--out", type=Path, default=Path(".schemas"), help="folder to write them to (default: ./.schemas)")
    _add_overrides(schema)
    schema.set_defaults(handler=_schema)
    asyncapi = verbs.add_parser("asyncapi", parents=[common], help="print the app's events as an AsyncAPI 3 document")
    asyncapi.add_argument("--format", choices=["json", "yaml"], default="json")
    asyncapi.add_argument("--out", type=Path, default=None, help="file to write it to (default: standard output)")
    _add_overrides(asyncapi)
    asyncapi.set_defaults(handler=_asyncapi)

    if verb not in verbs.choices:
        add_remote_verbs(verbs, common, _add_overrides, _load)  # they ask a running app
        add_fleet_verbs(verbs, common, _source)  # they write to, and ask, a fleet in Redis
    return parser


def _common_options() -> argparse.ArgumentParser:
    """The options every verb that reads the config takes (a parent parser)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config-dir", default="conf", help="folder holding the YAML (default: ./conf)")
    common.add_argument(
        "--config-name", default="config", help="primary config file, no .yaml (default: config)"
    )
    common.add_argument("--env-prefix", default=None, help="env var prefix (default: app.env_prefix)")
    limit = "larger config files are refused unread, at launch and on reload (default: 1 MiB)"
    common.add_argument("--max-file-bytes", type=_byte_count, default=DEFAULT_MAX_FILE_BYTES, help=limit)
    return common


def _byte_count(text: str) -> int:
    if not text.isdigit() or int(text) == 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of bytes, got {text!r}")
    return int(text)


def _add_overrides(parser: argparse.ArgumentParser) -> None:
    """Overrides come after a verb's own positionals (`explain KEY [overrides]`)."""
    parser.add_argument(
        "overrides",
        nargs="*",
        help="Hydra overrides: key=value, +key=value, ++key=value, ~key, group=option",
    )


def _source(args: argparse.Namespace) -> ConfigSource:
    return ConfigSource(
        config_dir=Path(args.config_dir),
        config_name=args.config_name,
        overrides=tuple(getattr(args, "overrides", ())),
        env_prefix=args.env_prefix,
        environ=dict(os.environ),
        max_file_bytes=args.max_file_bytes,
    )


def _load(args: argparse.Namespace) -> Snapshot:
    """The config as an instance would run it: with its fleet's overlay and its company's
    installed modules, when it has them."""
    source = _source(args)
    snapshot = load_config(source)
    if snapshot.section("fleet")["enabled"]:
        from framework.fleet.launch import join

        joined = join(source, snapshot)
        source, snapshot = (joined.source, joined.snapshot) if joined else (source, snapshot)
    if snapshot.section("modules")["enabled"]:
        from framework.modules.launch import with_installations

        snapshot = with_installations(source, snapshot)
    masker.update(snapshot.secret_values())  # the last pass over what the verb prints
    return snapshot


def _print(text: str) -> None:
    """Print text that shows configuration: values are masked per key already, and whatever
    else holds a secret value (a key set by interpolating a secret, say) is masked here."""
    print(masker(text))


def _show(args: argparse.Namespace) -> int:
    snapshot = _load(args)
    if args.provenance:
        rows = [{**row, "where": row["where"] or "unknown"} for row in provenance_rows(snapshot)]
        if args.format == "json":
            _print(json.dumps(rows, indent=2, default=str))
        else:
            width = max((len(r["key"]) for r in rows), default=0)
            lines = [f"{r['key']:<{width}} = {json.dumps(r['value'], default=str)}  # {_where_and_why(r)}" for r in rows]
            if lines:
                _print("\n".join(lines))
        return 0
    data = snapshot.masked()
    if args.format == "json":
        _print(json.dumps(data, indent=2, default=str))
    else:
        _print(yaml.safe_dump(data, sort_keys=False, default_flow_style=False).rstrip())
    return 0


def _where_and_why(row: dict[str, Any]) -> str:
    """``where`` of a provenance row, then what the key is for when its schema says."""
    return f"{row['where']} -- {row['description']}" if "description" in row else str(row["where"])


def _explain(args: argparse.Namespace) -> int:
    report = explain(_load(args), args.key)
    _print(json.dumps(report, indent=2, default=str) if args.format == "json" else explain_text(report))
    return 0


def _check(args: argparse.Namespace) -> int:
    try:
        snapshot = _load(args)
        assembly = assemble(snapshot)
    except ConfigError as exc:
        if args.format != "json":
            raise
        _print(json.dumps({"ok": False, "errors": str(exc).splitlines()}, indent=2))
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


def _docs(args: argparse.Namespace) -> int:
    from framework.config.reference import reference_markdown, reference_rows
    from framework.schemas import reference_sections

    sections = reference_sections(_load(args))
    if args.format == "json":
        _print(json.dumps(reference_rows(sections), indent=2, default=str))
    else:
        _print(reference_markdown(sections).rstrip())
    return 0


def _schema(args: argparse.Namespace) -> int:
    from framework.config.json_schema import modeline, write_schemas
    from framework.schemas import app_json_schema

    app = app_json_schema(_load(args))
    out: Path = args.out
    if out.exists() and not out.is_dir():
        fail(f"--out {out}: is a file; name a folder (it is made if missing)")
        return EXIT_CONFIG
    try:
        written = write_schemas(Path(args.config_dir), out, app, args.max_file_bytes)
    except OSError as exc:
        fail(f"--out {out}: cannot write the schemas there ({exc.strerror or exc}); name a folder you may write to")
        return EXIT_CONFIG
    print(f"Wrote {sum(1 for _, s in written if s)} JSON Schemas (draft 2020-12) to {out}/")
    print("Add each line at the top of its file, below its `# @package` line (Hydra reads that only there):")
    width = max((len(str(f)) for f, _ in written), default=0)
    for yaml_file, schema_file in written:
        line = modeline(yaml_file, schema_file) if schema_file else "(no schema: no section is declared there)"
        print(f"{str(yaml_file):<{width}}  {line}")
    return 0


def _asyncapi(args: argparse.Namespace) -> int:
    from framework.asyncapi import asyncapi_document

    snapshot = _load(args)
    document = asyncapi_document(snapshot, assemble(snapshot))
    if args.format == "yaml":
        text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
    else:
        text = json.dumps(document, indent=2) + "\n"
    text = masker(text)  # a secret that reached a description, say
    if args.out is None:
        print(text.rstrip())
        return 0
    try:
        args.out.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"--out {args.out}: cannot write there ({exc.strerror or exc}); name a file you may write")
        return EXIT_CONFIG
    print(f"Wrote AsyncAPI {document['asyncapi']} ({len(document['channels'])} channels, "
          f"{len(document['operations'])} operations) to {args.out}")
    return 0


def _run(args: argparse.Namespace) -> int:
    launch = (args.log_level or "INFO", args.log_format or "text")  # until the config is read
    configure_logging(*launch)
    app = App(_source(args))
    settings = LogSettings.from_section(app.snapshot.section("logging"), args.log_level, args.log_format)
    if (settings.level, settings.format) != launch or settings.file:  # a handler costs milliseconds
        try:
            configure_logging(settings.level, settings.format, file=settings.file)
        except OSError as exc:  # checked when the config was read, yet gone since (a race)
            fail(f"logging.file.path: cannot open the log file: {exc}")
            return EXIT_CONFIG
    app.logging_overrides = {"level": args.log_level, "format": args.log_format}  # reloads keep them
    try:
        run_bounded(app.run(app.snapshot.section("app")["duration"]))
    except (ComponentBuildError, ComponentStartError) as exc:
        fail(str(exc))
        return EXIT_RUNTIME
    return 0


