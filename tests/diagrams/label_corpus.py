"""Labels the diagram corpus by running Mermaid's engine on every file: writes tests/diagrams/labels.json.

    uv run python tests/diagrams/label_corpus.py [--backend quickjs|v8]

Each label is {"valid", "type", "error"} as `DiagramEngine.validate` returns it. A file whose name starts
with `x_` was written as a mistake; the script prints every file whose label disagrees with its name, to be
looked at (Mermaid's verdict is the label either way).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

from artificer.agents.diagrams import DiagramEngine

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"
LABELS = HERE / "labels.json"


def corpus_files() -> list[Path]:
    return sorted(CORPUS.rglob("*.mmd"))


async def label(backend: str) -> dict[str, dict[str, object]]:
    engine = DiagramEngine(backend=backend)  # type: ignore[arg-type]
    labels: dict[str, dict[str, object]] = {}
    try:
        for path in corpus_files():
            verdict = await engine.validate(path.read_text(encoding="utf-8"))
            name = path.relative_to(CORPUS).as_posix()
            labels[name] = {"valid": verdict.valid, "type": verdict.type, "error": verdict.error}
            if verdict.valid == path.stem.startswith("x_"):
                print(f"note: {name} is {'valid' if verdict.valid else 'invalid'}: {verdict.error}")
    finally:
        await engine.aclose()
    return labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("quickjs", "v8"), default="quickjs")
    args = parser.parse_args()
    labels = asyncio.run(label(args.backend))
    LABELS.write_text(json.dumps(labels, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    valid = sum(1 for v in labels.values() if v["valid"])
    print(f"{len(labels)} diagrams: {valid} valid, {len(labels) - valid} invalid -> {LABELS}")


if __name__ == "__main__":
    main()
