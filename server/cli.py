"""The `artificer` console script: `artificer db migrate | verify | reset | status` (and `serve`).

Every command reads `Settings` (the environment / `.env`), resolves the database (DATABASE_URL, or the
embedded Postgres, whose location goes to stderr) and reports failures as one line on stderr, exit code 2.

A new command is a parser plus a handler: `parser.set_defaults(handler=...)`, where the handler is
`(args, settings) -> int`, sync or async (an async one runs under `anyio.run`).
"""

from __future__ import annotations

import argparse
import inspect
import logging
import os
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import anyio
import asyncpg
from artificer.common.settings import Settings
from artificer.server.startup import prepare_database_in_thread
from artificer.storage.database import DatabaseError, DatabaseTarget, resolve_database
from artificer.storage.embedded import EmbeddedError
from artificer.storage.logs import RedactSecrets, redact_text
from artificer.storage.migrations import MigrationError, migrate, reset, status, verify
from pydantic import ValidationError

EXIT_OK = 0
EXIT_FAILED = 1  # the command ran and found a problem (verify), or the user said no
EXIT_ERROR = 2  # the command could not run

Handler = Callable[[argparse.Namespace, Settings], Any]


class CommandError(Exception):
    """A command cannot run; the message is printed as one line, exit code 2."""


def _version() -> str:
    try:
        return version("artificer")
    except PackageNotFoundError:
        return "unknown"


def say(message: str) -> None:
    """A progress/diagnostic line on stderr (stdout is left for the command's output)."""
    print(message, file=sys.stderr, flush=True)


async def _open(settings: Settings) -> tuple[DatabaseTarget, asyncpg.Connection]:
    target = await resolve_database(settings)
    say(f"database: {target.location}")
    try:
        conn = await target.connect()
    except BaseException:
        await target.close()
        raise
    return target, conn


async def db_migrate(args: argparse.Namespace, settings: Settings) -> int:
    target, conn = await _open(settings)
    try:
        applied = await migrate(conn)
        state = await status(conn)
    finally:
        await conn.close()
        await target.close()
    for migration in applied:
        print(f"applied {migration.filename} ({migration.duration_ms} ms)")
    if not applied:
        print(f"nothing to migrate: all {len(state.applied)} migrations are applied")
    return EXIT_OK


async def db_verify(args: argparse.Namespace, settings: Settings) -> int:
    target, conn = await _open(settings)
    try:
        report = await verify(conn)
    finally:
        await conn.close()
        await target.close()
    print(report.render())
    return EXIT_OK if report.ok else EXIT_FAILED


async def db_status(args: argparse.Namespace, settings: Settings) -> int:
    target, conn = await _open(settings)
    try:
        state = await status(conn)
    finally:
        await conn.close()
        await target.close()
    print(state.render())
    return EXIT_OK


def _confirm_reset(args: argparse.Namespace) -> bool:
    if args.yes:
        return True
    say("This drops every table, function and type in schema public, with all their data.")
    try:
        answer = input("Reset the database? [y/N] ")
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


async def db_reset(args: argparse.Namespace, settings: Settings) -> int:
    if not args.yes and not sys.stdin.isatty():
        raise CommandError("refusing to reset without a terminal to confirm on; pass --yes to reset anyway")
    target, conn = await _open(settings)
    try:
        if not await anyio.to_thread.run_sync(_confirm_reset, args):
            say("reset aborted; nothing changed")
            return EXIT_FAILED
        applied = await reset(conn)
    finally:
        await conn.close()
        await target.close()
    print(f"reset done: {len(applied)} migrations applied again")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="artificer", description="Artifact-making AI agents as MCP tools, backed by Postgres."
    )
    parser.add_argument("--version", action="version", version=f"artificer {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    db = commands.add_parser("db", help="database: migrate, verify, reset, status")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="DB_COMMAND")
    for name, handler, help_text in (
        ("migrate", db_migrate, "apply pending migrations"),
        ("verify", db_verify, "check every expected object; exit 1 if any is missing"),
        ("status", db_status, "list applied and pending migrations"),
    ):
        db_commands.add_parser(name, help=help_text).set_defaults(handler=handler)
    reset_parser = db_commands.add_parser("reset", help="drop everything in schema public, then migrate")
    reset_parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    reset_parser.set_defaults(handler=db_reset)
    from artificer.server import maintenance_cli  # imports this module: registered here, not at the top

    maintenance_cli.register(db_commands)

    serve_parser = commands.add_parser("serve", help="run the MCP server (stdio, or Streamable HTTP)")
    serve_parser.add_argument(
        "--transport", choices=("stdio", "http"), default="stdio", help="stdio (default) or http"
    )
    serve_parser.add_argument("--host", help="HTTP interface (default ARTIFICER_HTTP_HOST or 127.0.0.1)")
    serve_parser.add_argument("--port", type=int, help="HTTP port (default ARTIFICER_HTTP_PORT or 8000)")
    serve_parser.set_defaults(handler=serve)

    from artificer.server import diagram_cli  # imports this module: registered here, not at the top

    diagram_cli.register(commands)
    from artificer.server import admin_cli  # the same: it imports this module

    admin_cli.register(commands)
    return parser


async def serve(args: argparse.Namespace, settings: Settings) -> int:
    """`artificer serve`: the MCP server over stdio, or Streamable HTTP at /mcp with GET /health."""
    # stdio: the database gets ready (the embedded Postgres starts in its own process) on a thread of its
    # own while the server's modules import, which take longer
    database = prepare_database_in_thread(settings) if args.transport == "stdio" else None
    from artificer.server.app import serve_http, serve_stdio
    from artificer.server.catalog import CatalogError
    from artificer.server.identity import IdentityError

    try:
        if database is not None:
            await serve_stdio(settings, database=database)
            return EXIT_OK
        updates = {k: v for k, v in (("http_host", args.host), ("http_port", args.port)) if v is not None}
        http_settings = settings.model_copy(update=updates)
        say(f"starting the MCP server for http://{http_settings.http_host}:{http_settings.http_port}/mcp")
        await serve_http(http_settings)
    except (IdentityError, CatalogError) as error:
        raise CommandError(str(error)) from None
    except BaseExceptionGroup as group:
        # Startup failures surface from inside the SDK's (and the lifespan's) task groups: report the
        # first startup failure found among them as one line.
        reported = _startup_failure(group, (IdentityError, CatalogError, *STARTUP_FAILURES))
        if reported is None:
            raise
        raise CommandError(str(reported)) from None
    return EXIT_OK


# Failures of the startup path (database, embedded server, migration) that `main` reports as one line.
STARTUP_FAILURES: tuple[type[Exception], ...] = (DatabaseError, EmbeddedError, MigrationError)


def _startup_failure(error: BaseException, kinds: tuple[type[BaseException], ...]) -> BaseException | None:
    """The first exception of one of `kinds` in `error`, looking inside (nested) exception groups."""
    if isinstance(error, BaseExceptionGroup):
        for inner in error.exceptions:
            found = _startup_failure(inner, kinds)
            if found is not None:
                return found
        return None
    return error if isinstance(error, kinds) else None


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(level: str) -> logging.Handler:
    """The process's one log handler: stderr, with keys, tokens, JWTs and URL passwords redacted.

    Every logger propagates to it (uvicorn's too: `serve_http` gives uvicorn no logging config of its own).
    """
    if level.upper() not in logging.getLevelNamesMapping():
        raise CommandError(f"invalid ARTIFICER_LOG_LEVEL {level!r}: use DEBUG, INFO, WARNING or ERROR")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.addFilter(RedactSecrets())
    logging.basicConfig(handlers=[handler], level=level.upper(), force=True)
    return handler


def _settings_error(error: ValidationError) -> str:
    problems = []
    for item in error.errors():
        name = ".".join(str(part) for part in item["loc"]) or "settings"
        problems.append(f"{name}: {item['msg']}")
    return "invalid settings: " + "; ".join(problems)


def run(handler: Handler, args: argparse.Namespace, settings: Settings) -> int:
    if inspect.iscoroutinefunction(handler):
        return int(anyio.run(handler, args, settings))
    return int(handler(args, settings))


def main(argv: Sequence[str] | None = None) -> int:
    """Console-script entry point; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        settings = Settings()
        configure_logging(settings.log_level)
        return run(args.handler, args, settings)
    except ValidationError as error:
        message = _settings_error(error)
    except (DatabaseError, EmbeddedError, MigrationError, CommandError) as error:
        message = str(error)
    except asyncpg.PostgresError as error:
        message = f"database error: {type(error).__name__}: {error}"
    except BrokenPipeError:  # the reader (e.g. `| head`) went away: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
    except (OSError, TimeoutError) as error:
        message = f"{type(error).__name__}: {error}"
    except KeyboardInterrupt:
        say("artificer: interrupted")
        return 130
    one_line = "; ".join(line.strip() for line in message.splitlines() if line.strip())
    say(f"artificer: error: {redact_text(one_line)}")
    return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
