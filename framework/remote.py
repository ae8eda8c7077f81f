"""The verbs that ask a running app, over its admin API: status, reload, stop, start, restart."""

from __future__ import annotations

import argparse
import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from framework.config.snapshot import Snapshot
from framework.terminal import EXIT_RUNTIME, columns, fail

ADMIN_URL = "http://127.0.0.1:8765"
# Composes the config a verb names (--config-dir and overrides), as `run` would.
Load = Callable[[argparse.Namespace], Snapshot]


def add_verbs(
    verbs: Any, common: argparse.ArgumentParser, add_overrides: Callable[[argparse.ArgumentParser], None], load: Load
) -> None:
    """Add status, reload, stop, start and restart to the `integrate` verbs (``verbs``: its subparsers)."""
    status_verb = verbs.add_parser("status", help="ask a running app (its admin API) for components and health")
    _add_url(status_verb)
    status_verb.add_argument("--format", choices=["text", "json"], default="text")
    status_verb.set_defaults(handler=status)

    reload_verb = verbs.add_parser("reload", parents=[common], help="ask a running app to reload its config")
    reload_verb.add_argument("--dry-run", action="store_true", help="only print the plan")
    _add_url(reload_verb, token=True)
    reload_verb.add_argument("--format", choices=["text", "json"], default="text")
    add_overrides(reload_verb)
    reload_verb.set_defaults(handler=functools.partial(reload, load=load))

    helps = {
        "stop": "stop a component of a running app (its dependents first)",
        "start": "start a stopped component of a running app (its dependencies first)",
        "restart": "restart a component of a running app (its dependents too)",
    }
    for action, help_text in helps.items():
        verb = verbs.add_parser(action, parents=[common], help=help_text)
        verb.add_argument("name", help="the component's name")
        verb.add_argument(
            "--no-cascade", action="store_true", help="refuse rather than stop dependents or start dependencies"
        )
        _add_url(verb, token=True)
        verb.add_argument("--format", choices=["text", "json"], default="text")
        add_overrides(verb)
        verb.set_defaults(handler=functools.partial(control, action=action, load=load))


def _add_url(parser: argparse.ArgumentParser, token: bool = False) -> None:
    parser.add_argument("--url", default=ADMIN_URL, help=f"the app's admin API (default: {ADMIN_URL})")
    if token:
        parser.add_argument(
            "--token", default=None, help="bearer token (default: http.token of the config in --config-dir)"
        )


def call_admin(url: str, path: str, method: str = "GET", token: str | None = None) -> tuple[int, Any]:
    """Call a running app's admin API; (status, parsed JSON). AdminUnreachable when none answers."""
    import urllib.error  # only the verbs that ask a running app need HTTP: keep it off every start-up
    import urllib.request

    request = urllib.request.Request(
        url.rstrip("/") + path, method=method, data=b"" if method == "POST" else None
    )
    if token:  # sent as UTF-8 bytes: http.client writes a str header's characters as latin-1 bytes
        request.add_header("Authorization", f"Bearer {token}".encode().decode("latin-1"))
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        body = exc.read()
        try:
            return exc.code, json.loads(body or b"null")
        except ValueError:
            return exc.code, {"detail": body.decode(errors="replace")[:200]}
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise AdminUnreachable(
            f"no app answers at {url} ({reason}); is it running with the admin API enabled"
            " (component 'admin', http.host/http.port)? Pass --url to ask another address"
        ) from exc


class AdminUnreachable(ConnectionError):
    """Raised when nothing answers at the admin API's URL."""


def status(args: argparse.Namespace) -> int:
    try:
        _, info = call_admin(args.url, "/info")
        _, rows = call_admin(args.url, "/components")
        ready_code, ready = call_admin(args.url, "/health/ready")
        _, partitions = call_admin(args.url, "/events/partitions")
    except AdminUnreachable as exc:
        fail(str(exc))
        return EXIT_RUNTIME
    if args.format == "json":
        body = {"info": info, "ready": ready_code == 200, "components": rows, "partitions": partitions}
        print(json.dumps(body, indent=2))
        return 0 if ready_code == 200 else EXIT_RUNTIME
    print(
        f"{info['app']} {info['version']}: {info['status']}, {'ready' if ready_code == 200 else 'NOT ready'},"
        f" up {info['uptime']:.0f} s, config v{info['config_version']} ({info['config_hash']})"
    )
    for reason in ready.get("reasons", []):
        print(f"  not ready: {reason}")
    table = [("COMPONENT", "STATE", "HEALTH", "RESTARTS", "VERSION", "DETAILS")]
    for row in rows:
        health = row.get("health") or {}
        details = health.get("details") or {}
        note = details.get("error") or details.get("reason") or row.get("reason") or ""
        table.append(
            (
                row["name"],
                row["state"],
                health.get("status") or "-",
                str(health.get("restarts", "-")),
                row.get("version") or "-",
                str(note)[:60],
            )
        )
    print(columns(table))
    for row in partitions if isinstance(partitions, list) else []:
        owned = ", ".join(f"{p} (lag {row['lag'].get(str(p), 0)})" for p in row["owned"]) or "none"
        print(f"partitions of {row['topic']} for {row['subscriber']}: {owned}; {row['rebalances']} rebalance(s)")
    return 0 if ready_code == 200 else EXIT_RUNTIME


def _admin_token(args: argparse.Namespace, load: Load) -> str | None:
    """``--token``, else ``http.token`` of the config in --config-dir, composed as `run` would:
    the app's own YAML (or env prefix) names the variable that holds it."""
    if args.token or not Path(args.config_dir).is_dir():
        return args.token or None
    token = load(args).section("http").get("token")
    return str(token) if token else None


def reload(args: argparse.Namespace, load: Load) -> int:
    """POST /config/reload: print the outcome (or the plan), or why it was refused."""

    def printed(code: int, body: Any) -> bool:
        if code in (200, 422) and isinstance(body, dict) and "outcome" in body:
            _print_outcome(body)
            return True
        return False

    return _ask(args, load, "reload", "/config/reload" + ("?dry_run=true" if args.dry_run else ""), printed)


def _ask(args: argparse.Namespace, load: Load, verb: str, path: str, printed: Callable[[int, Any], bool]) -> int:
    """POST ``path`` with the token; ``printed`` shows an answer (False: the body is none, and
    the refusal is shown instead). Exit 0 only for 200."""
    token = _admin_token(args, load)
    try:
        code, body = call_admin(args.url, path, "POST", token)
    except AdminUnreachable as exc:
        fail(str(exc))
        return EXIT_RUNTIME
    if args.format == "json":
        print(json.dumps(body, indent=2))
    elif not printed(code, body):
        detail = body.get("detail") if isinstance(body, dict) else body
        hint = f" (pass --token, or set http.token in {args.config_dir})" if code == 401 and not token else ""
        fail(f"{verb} refused ({code}): {detail}{hint}")
    return 0 if code == 200 else EXIT_RUNTIME


def _print_outcome(body: dict[str, Any]) -> None:
    result = body.get("result") or {}
    version = f" (version {result['version']})" if "version" in result else ""
    print(f"{'dry run' if body.get('dry_run') else 'reload'}: {body['outcome']}{version}")
    for change in result.get("changes", []):
        print(
            f"  {change['kind']:<8} {change['key']}: {json.dumps(change['old'])} -> {json.dumps(change['new'])}"
        )
    for action in result.get("actions", []):
        keys = f" ({', '.join(action['keys'])})" if action.get("keys") else ""
        reason = f": {action['reason']}" if action.get("reason") else ""
        print(f"  {action['action']:<11} {action['target']}{keys}{reason}")
    for reason in result.get("reasons", []) or ([body["detail"]] if body.get("detail") else []):
        print(f"  because: {reason}")


def control(args: argparse.Namespace, action: str, load: Load) -> int:
    """POST /components/NAME/ACTION: print what was stopped and started, or why it was refused."""

    def printed(code: int, body: Any) -> bool:
        if not (isinstance(body, dict) and "outcome" in body):
            return False
        stopped = ", ".join(body["stopped"]) or "none"
        started = ", ".join(body["started"]) or "none"
        print(f"{action} {args.name}: {body['outcome']}; stopped: {stopped}; started: {started}")
        if body.get("error"):
            fail(body["error"])
        return True

    path = f"/components/{args.name}/{action}" + ("?cascade=false" if args.no_cascade else "")
    return _ask(args, load, action, path, printed)
