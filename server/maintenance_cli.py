"""`artificer db purge [--dry-run]`: the maintenance `artificer serve` runs every hour, on demand.

Creates the coming months' log partitions, applies `logging_settings.log_retention_days` (whole monthly
partitions dropped, the expired rows of a straddling month deleted; resolved errors only; usage_logs only
when a retention is set for it) and deletes expired rate-limit windows. `--dry-run` prints what it would do
and changes nothing. Exit 0 when done, 1 when another process held the maintenance lock (nothing done).
"""

from __future__ import annotations

import argparse
from typing import Any

from artificer.common.settings import Settings
from artificer.server.cli import EXIT_FAILED, EXIT_OK, _open
from artificer.storage.maintenance import run_maintenance


def register(db_commands: Any) -> None:
    """Adds `purge` to the `db` subcommands (`db_commands`)."""
    purge = db_commands.add_parser(
        "purge",
        help="apply log retention, make the coming months' log partitions, drop expired rate-limit windows",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
    )
    purge.add_argument("--dry-run", action="store_true", help="print what would be done; change nothing")
    purge.set_defaults(handler=db_purge)


async def db_purge(args: argparse.Namespace, settings: Settings) -> int:
    target, conn = await _open(settings)
    try:
        report = await run_maintenance(conn, dry_run=args.dry_run)
    finally:
        await conn.close()
        await target.close()
    print(report.render())
    return EXIT_FAILED if report.skipped else EXIT_OK
