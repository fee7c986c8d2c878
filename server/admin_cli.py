"""`artificer admin …`: the admin tools from a shell, through the same code path (`server.admin`).

    artificer admin [--as USER_ID] agents list [--provider P]
    artificer admin agents get AGENT [--provider P]
    artificer admin agents set AGENT [--provider P] PATH=VALUE...      (VALUE: JSON, else a string)
    artificer admin models list [--provider P]
    artificer admin models add MODEL_ID --provider P --name N --input-price X --output-price Y [...]
    artificer admin models update MODEL_ID [--input-price X] [--cache-read-price X] [--inactive] [...]
    artificer admin models default MODEL_ID
    artificer admin provider get | set PROVIDER
    artificer admin analytics [REPORT] [--from DATE] [--to DATE] [--limit N]
    artificer admin errors list [--severity S] [--type T] [--resolved] [--limit N]
    artificer admin errors resolve ERROR_ID --notes TEXT
    artificer admin logging get | set PATH=VALUE...
    artificer admin audit [--user USER_ID] [--type TYPE] [--from DATE] [--to DATE] [--limit N]

The command acts as the user `--as` names, or as the local user (ARTIFICER_USER_ID, or the embedded
database's user); that user must be an admin (app_metadata.role). Output: the tool's structured result as
JSON on stdout. A refused change prints its reason (exit 2) and changes nothing.
"""

from __future__ import annotations

import argparse
import json
from typing import Any
from uuid import UUID

from artificer.common.providers import PROVIDERS
from artificer.common.settings import Settings
from artificer.server.cli import EXIT_OK, CommandError, say

REPORTS = ("all", "usage_by_day", "by_model", "top_users", "failures", "durations")


def _uuid(value: str) -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a uuid: {value!r}") from None


def _change(text: str) -> dict[str, Any]:
    path, sep, raw = text.partition("=")
    if not sep or not path:
        raise argparse.ArgumentTypeError(f"expected PATH=VALUE, got {text!r}")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw  # a plain string (a prompt, a description)
    return {"path": path.strip(), "value": value}


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"not JSON: {error}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("expected a JSON object")
    return value


def register(commands: Any) -> None:
    """Adds `admin …` to the top-level subparsers (`commands`)."""
    parser = commands.add_parser(
        "admin", help="operate it: agent configs, models, analytics, errors, logging"
    )
    parser.add_argument(
        "--as",
        dest="as_user",
        type=_uuid,
        metavar="USER_ID",
        help="act as this admin (default: the local user)",
    )
    sub = parser.add_subparsers(dest="admin_command", required=True, metavar="ADMIN_COMMAND")

    agents = sub.add_parser("agents", help="agent configs: list, get, set").add_subparsers(
        dest="action", required=True
    )
    p = agents.add_parser("list", help="every agent × provider")
    p.add_argument("--provider", choices=PROVIDERS)
    p.set_defaults(tool="admin_agents")
    for action in ("get", "set"):
        p = agents.add_parser(action, help=f"{action} one agent's config")
        p.add_argument("agent")
        p.add_argument("--provider", choices=PROVIDERS, help="default: the active provider")
        if action == "set":
            p.add_argument("changes", nargs="+", type=_change, metavar="PATH=VALUE")
        p.set_defaults(tool="admin_agents")

    models = sub.add_parser("models", help="models: list, add, update, default").add_subparsers(
        dest="action", required=True
    )
    p = models.add_parser("list")
    p.add_argument("--provider", choices=PROVIDERS)
    p.set_defaults(tool="admin_models")
    for action in ("add", "update"):
        p = models.add_parser(action)
        p.add_argument("modelId", metavar="MODEL_ID")
        p.add_argument("--provider", choices=PROVIDERS, required=action == "add")
        p.add_argument("--name", required=action == "add")
        p.add_argument("--description")
        p.add_argument("--input-price", dest="inputPrice", type=float, required=action == "add")
        p.add_argument("--output-price", dest="outputPrice", type=float, required=action == "add")
        p.add_argument("--cache-read-price", dest="cacheReadPrice", type=float)
        p.add_argument("--cache-write-price", dest="cacheWritePrice", type=float)
        p.add_argument("--active", dest="active", action="store_const", const=True)
        p.add_argument("--inactive", dest="active", action="store_const", const=False)
        p.add_argument("--thinking", dest="thinking", action="store_const", const=True)
        p.add_argument("--no-thinking", dest="thinking", action="store_const", const=False)
        p.add_argument("--metadata", type=_json_object, help="JSON object merged into the metadata")
        p.set_defaults(tool="admin_models")
    p = models.add_parser("default", help="make a model its provider's default")
    p.add_argument("modelId", metavar="MODEL_ID")
    p.set_defaults(tool="admin_models", action="make_default")

    provider = sub.add_parser("provider", help="the active provider: get, set").add_subparsers(
        dest="action", required=True
    )
    provider.add_parser("get").set_defaults(tool="admin_provider")
    p = provider.add_parser("set")
    p.add_argument("provider", choices=PROVIDERS)
    p.set_defaults(tool="admin_provider")

    p = sub.add_parser("analytics", help="usage, cost, failures and durations over all users")
    p.add_argument("report", nargs="?", choices=REPORTS, default="all")
    p.add_argument("--from", dest="startDate", metavar="DATE")
    p.add_argument("--to", dest="endDate", metavar="DATE")
    p.add_argument("--limit", type=int)
    p.set_defaults(tool="admin_analytics")

    errors = sub.add_parser("errors", help="logged errors: list, resolve").add_subparsers(
        dest="action", required=True
    )
    p = errors.add_parser("list")
    p.add_argument("--severity")
    p.add_argument("--type", dest="errorType")
    p.add_argument("--resolved", action="store_const", const=True)
    p.add_argument("--limit", type=int)
    p.set_defaults(tool="admin_errors")
    p = errors.add_parser("resolve")
    p.add_argument("errorId", metavar="ERROR_ID")
    p.add_argument("--notes", required=True)
    p.set_defaults(tool="admin_errors")

    logging_ = sub.add_parser("logging", help="logging settings: get, set").add_subparsers(
        dest="action", required=True
    )
    logging_.add_parser("get").set_defaults(tool="admin_logging")
    p = logging_.add_parser("set")
    p.add_argument("changes", nargs="+", type=_change, metavar="PATH=VALUE")
    p.set_defaults(tool="admin_logging")

    p = sub.add_parser("audit", help="search the user activity trail")
    p.add_argument("--user", dest="userId", metavar="USER_ID")
    p.add_argument("--type", dest="activityType")
    p.add_argument("--from", dest="startDate", metavar="DATE")
    p.add_argument("--to", dest="endDate", metavar="DATE")
    p.add_argument("--limit", type=int)
    p.set_defaults(tool="admin_audit")

    parser.set_defaults(handler=admin_command)


_NOT_ARGUMENTS = {"command", "admin_command", "handler", "tool", "as_user"}


def tool_arguments(args: argparse.Namespace) -> dict[str, Any]:
    """The tool's arguments from the parsed command line (options not given are left out)."""
    values = {k: v for k, v in vars(args).items() if k not in _NOT_ARGUMENTS and v is not None}
    if args.tool in ("admin_analytics", "admin_audit"):
        values.pop("action", None)
    return values


async def admin_command(args: argparse.Namespace, settings: Settings) -> int:
    from artificer.server import admin
    from artificer.server.errors import ToolRefused
    from artificer.server.identity import IdentityError, local_caller, resolve_local_user
    from artificer.server.startup import prepare_database
    from artificer.storage import users

    db = await prepare_database(settings)
    say(f"database: {db.location}")
    try:
        pool = await db.create_pool(min_size=1, max_size=2)
        try:
            if args.as_user is not None:
                user = await users.get_user(pool, args.as_user)
                if user is None:
                    raise CommandError(f"--as {args.as_user}: no such user in auth.users")
                caller = local_caller(user.id, user.email, user.app_metadata)
            else:
                try:
                    caller = await resolve_local_user(pool, settings, embedded=db.embedded is not None)
                except IdentityError as error:
                    raise CommandError(f"{error}; or pass --as USER_ID") from None
            if not admin.is_admin(caller):
                raise CommandError(
                    f"user {caller.user_id} is not an admin (app_metadata.role is not 'admin')"
                )
            deps = admin.AdminDeps(pool=pool, settings=settings)
            try:
                out, summary = await admin.run_admin_tool(deps, caller, args.tool, tool_arguments(args))
            except ToolRefused as error:
                raise CommandError(str(error)) from None
        finally:
            await pool.close()
    finally:
        await db.close()
    say(summary)
    print(out.model_dump_json(indent=2, exclude_none=True))
    return EXIT_OK
