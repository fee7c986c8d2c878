"""`artificer diagram check FILE... [--render DIR]`: Mermaid's own engine from the shell, e.g. in CI.

One JSON line per file, in the order given: {"file", "valid", "type", "error"} — type is the diagram type
Mermaid detected (null if none), error Mermaid's message or null. With --render, the SVG of each valid file
is written to DIR/<name>.svg (a file that parses but that Mermaid cannot draw is reported invalid, with the
message). Exit 0 when every file is valid, 1 when any is not, 2 on usage errors (unreadable file, bad
DIR). All files go through one engine, started once and kept warm; --jobs runs more engine workers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any

from artificer.agents.diagrams import BACKENDS, DiagramEngine, DiagramEngineError, Verdict
from artificer.common.settings import Settings
from artificer.server.cli import CommandError

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2


def register(commands: Any) -> None:
    """Adds `diagram check` to the top-level subparsers (`commands`)."""
    diagram = commands.add_parser("diagram", help="Mermaid diagrams: check (and render) files")
    sub = diagram.add_subparsers(dest="diagram_command", required=True, metavar="DIAGRAM_COMMAND")
    check = sub.add_parser(
        "check",
        help="validate Mermaid files with Mermaid's own parser; one JSON line per file",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
    )
    check.add_argument("files", nargs="+", metavar="FILE", type=Path, help="Mermaid source files (.mmd)")
    check.add_argument("--render", metavar="DIR", type=Path, help="write the SVG of each valid file to DIR")
    check.add_argument(
        "--engine", choices=BACKENDS, default="quickjs", help="JavaScript engine (v8 needs mini-racer)"
    )
    check.add_argument(
        "--jobs", type=int, default=1, metavar="N", help="engine workers to run at once (default 1)"
    )
    check.add_argument(
        "--time-limit", type=float, default=20.0, metavar="SECONDS", help="per diagram (default 20)"
    )
    check.set_defaults(handler=diagram_check)


def _outputs(files: list[Path], folder: Path) -> dict[Path, Path]:
    outputs: dict[Path, Path] = {}
    taken: dict[Path, Path] = {}
    for file in files:
        target = folder / f"{file.stem}.svg"
        if target in taken and taken[target] != file:
            raise CommandError(f"{taken[target]} and {file} would both be rendered to {target}")
        taken[target] = file
        outputs[file] = target
    return outputs


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CommandError(f"cannot use {folder} for the SVGs: {error}") from None


def _read(files: list[Path]) -> dict[Path, str]:
    sources: dict[Path, str] = {}
    for file in files:
        try:
            sources[file] = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise CommandError(f"cannot read {file}: {error}") from None
    return sources


async def check_files(
    sources: dict[Path, str], *, render: Path | None, engine: DiagramEngine, print_line: Any = print
) -> int:
    """Checks every file (printing its JSON line in order as soon as it and those before it are done)."""
    files = list(sources)
    outputs = _outputs(files, render) if render is not None else {}
    if render is not None:
        await asyncio.to_thread(_make_folder, render)

    async def one(file: Path) -> tuple[Verdict, str | None]:
        try:
            checked = await engine.check(sources[file], render="svg" if render is not None else None)
        except DiagramEngineError as error:  # this diagram overran the time limit or crashed the engine
            return Verdict(valid=False, type=None, error=str(error)), None
        return checked.verdict, checked.svg

    tasks = [asyncio.ensure_future(one(file)) for file in files]
    all_valid = True
    try:
        for file, task in zip(files, tasks, strict=True):
            verdict, svg = await task
            if svg is not None:
                await asyncio.to_thread(outputs[file].write_text, svg, encoding="utf-8")
            all_valid &= verdict.valid
            line = {"file": str(file), "valid": verdict.valid, "type": verdict.type, "error": verdict.error}
            print_line(json.dumps(line, ensure_ascii=False), flush=True)
    finally:
        for task in tasks:
            task.cancel()
    return EXIT_OK if all_valid else EXIT_INVALID


async def diagram_check(args: argparse.Namespace, settings: Settings) -> int:
    if args.jobs < 1 or args.time_limit <= 0:
        raise CommandError("--jobs must be at least 1 and --time-limit positive")
    sources = await asyncio.to_thread(_read, list(args.files))  # unreadable: a usage error, before the engine
    if args.render is not None:
        _outputs(list(sources), args.render)
        await asyncio.to_thread(_make_folder, args.render)
    workers = min(args.jobs, len(sources))
    engine = DiagramEngine(backend=args.engine, workers=workers, time_limit=args.time_limit)
    try:
        try:
            await engine.start()
        except DiagramEngineError as error:
            raise CommandError(str(error)) from None
        return await check_files(sources, render=args.render, engine=engine)
    finally:
        await engine.aclose()
