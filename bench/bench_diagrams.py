"""Mermaid validation and rendering: Artificer's engine (QuickJS, V8) against mermaid-cli, in the same run.

    uv run --extra v8 python bench/bench_diagrams.py [--limit N] [--cold-runs 3] [--mmdc-dir DIR]

The diagrams are the valid ones of the test corpus (tests/diagrams/corpus, eleven types). For each engine:

- cold: a new `DiagramEngine` (worker process started, mermaid.js loaded) and its first diagram, timed
  from the call to the SVG; `--cold-runs` times, each on a different diagram;
- warm: every diagram once untimed (each type's code loaded), then every diagram timed: `validate` alone,
  and `check(render="svg")` (validation and SVG in one round trip: what a caller that keeps the drawing
  pays). Figures are per diagram, p50 and p95, plus the p50 of the flowcharts (the typical diagram).

The baseline is @mermaid-js/mermaid-cli 11 driving Debian's Chromium (never a downloaded browser): cold is
one `mmdc` run per diagram; warm is its own `renderMermaid` with one browser kept open, timed per diagram
after the same untimed pass. Install it once (the bench does not):

    apt-get install -y chromium
    mkdir -p ~/.cache/artificer-bench/mmdc && cd ~/.cache/artificer-bench/mmdc && \\
        PUPPETEER_SKIP_DOWNLOAD=1 npm install @mermaid-js/mermaid-cli

Memory, per engine: a fresh interpreter imports the server (`artificer.server.app`), reads its RSS, starts
an engine and validates and draws one diagram of each type; the added RSS is the server process's growth
plus the whole worker's RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "diagrams" / "corpus"
LABELS = ROOT / "tests" / "diagrams" / "labels.json"
MMDC_DIR = Path.home() / ".cache" / "artificer-bench" / "mmdc"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

GOAL_WARM_P50_MS = 200.0
GOAL_SPEEDUP = 10.0
GOAL_ADDED_RSS_MB = 150.0


@dataclass
class Figures:
    name: str
    cold: list[float]
    warm_check: list[float]
    warm_validate: list[float]
    warm_flowchart: list[float]


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def diagrams(limit: int | None) -> list[tuple[str, str]]:
    labels = json.loads(LABELS.read_text(encoding="utf-8"))
    chosen = [(name, (CORPUS / name).read_text(encoding="utf-8")) for name, v in labels.items() if v["valid"]]
    # Interleave the types so a --limit keeps a mix.
    by_type: dict[str, list[tuple[str, str]]] = {}
    for item in chosen:
        by_type.setdefault(item[0].split("/")[0], []).append(item)
    mixed: list[tuple[str, str]] = []
    while any(by_type.values()):
        for items in by_type.values():
            if items:
                mixed.append(items.pop(0))
    return mixed[:limit] if limit else mixed


async def bench_engine(backend: str, sources: list[tuple[str, str]], cold_runs: int) -> Figures:
    from artificer.agents.diagrams import DiagramEngine

    cold: list[float] = []
    for _, source in sources[:cold_runs]:
        engine = DiagramEngine(backend=backend)
        started = time.perf_counter()
        await engine.check(source, render="svg")
        cold.append(time.perf_counter() - started)
        await engine.aclose()

    engine = DiagramEngine(backend=backend)
    try:
        drawn = []
        for name, source in sources:  # untimed: load every type's code
            if (await engine.check(source, render="svg")).svg is not None:
                drawn.append((name, source))
            else:  # parses, but mermaid.js cannot draw it (e.g. an impossible date in a gantt)
                print(f"{backend}: {name} is valid but cannot be drawn; not timed", file=sys.stderr)
        warm_check, warm_validate, flow = [], [], []
        for name, source in drawn:
            started = time.perf_counter()
            verdict = await engine.validate(source)
            warm_validate.append(time.perf_counter() - started)
            assert verdict.valid, (name, verdict)
            started = time.perf_counter()
            checked = await engine.check(source, render="svg")
            elapsed = time.perf_counter() - started
            assert checked.svg, (name, checked.verdict)
            warm_check.append(elapsed)
            if name.startswith("flowchart/"):
                flow.append(elapsed)
    finally:
        await engine.aclose()
    return Figures(f"artificer {backend}", cold, warm_check, warm_validate, flow)


MMDC_WARM_JS = """
import { renderMermaid } from "@mermaid-js/mermaid-cli";
import puppeteer from "puppeteer";
import { readFileSync } from "node:fs";
const items = JSON.parse(readFileSync(process.argv[2], "utf8"));
const browser = await puppeteer.launch({
  headless: "new",
  executablePath: process.env.PUPPETEER_EXECUTABLE_PATH,
  args: ["--no-sandbox", "--disable-gpu"],
});
const drawn = [];
for (const item of items) {
  try {
    await renderMermaid(browser, item[1], "svg");
    drawn.push(item);
  } catch (e) {
    console.error(`mermaid-cli: ${item[0]} cannot be drawn; not timed`);
  }
}
const times = [];
for (const [name, source] of drawn) {
  const started = process.hrtime.bigint();
  const { data } = await renderMermaid(browser, source, "svg");
  times.push([name, Number(process.hrtime.bigint() - started) / 1e9, data.length]);
}
await browser.close();
console.log(JSON.stringify(times));
"""


def mmdc_env() -> dict[str, str]:
    return {**os.environ, "PUPPETEER_SKIP_DOWNLOAD": "1", "PUPPETEER_EXECUTABLE_PATH": CHROMIUM}


def bench_mmdc(mmdc_dir: Path, sources: list[tuple[str, str]], cold_runs: int) -> Figures | None:
    mmdc = mmdc_dir / "node_modules" / ".bin" / "mmdc"
    if not mmdc.exists() or not Path(CHROMIUM).exists():
        print(
            f"mermaid-cli: not found ({mmdc}, {CHROMIUM}); see the docstring to install it", file=sys.stderr
        )
        return None
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        config = work / "puppeteer.json"
        config.write_text(json.dumps({"args": ["--no-sandbox", "--disable-gpu"]}))
        cold: list[float] = []
        for index, (_, source) in enumerate(sources[:cold_runs]):
            src, out = work / f"d{index}.mmd", work / f"d{index}.svg"
            src.write_text(source, encoding="utf-8")
            started = time.perf_counter()
            subprocess.run(
                [str(mmdc), "-q", "-p", str(config), "-i", str(src), "-o", str(out)],
                env=mmdc_env(),
                check=True,
                capture_output=True,
            )
            cold.append(time.perf_counter() - started)
        items = work / "items.json"
        items.write_text(json.dumps(sources), encoding="utf-8")
        script = mmdc_dir / "artificer_bench_warm.mjs"  # beside node_modules, so the imports resolve
        script.write_text(MMDC_WARM_JS, encoding="utf-8")
        done = subprocess.run(
            ["node", str(script), str(items)], env=mmdc_env(), check=True, capture_output=True, text=True
        )
    times = json.loads(done.stdout.strip().splitlines()[-1])
    warm = [t for _, t, _ in times]
    flow = [t for name, t, _ in times if name.startswith("flowchart/")]
    return Figures("mermaid-cli (Chromium)", cold, warm, [], flow)


RSS_SCRIPT = textwrap.dedent(
    """
    import asyncio, json, sys
    import psutil
    import artificer.server.app  # noqa: F401  (the server's imports)
    from artificer.agents.diagrams import DiagramEngine

    sources = json.loads(sys.stdin.read())
    me = psutil.Process()
    before = me.memory_info().rss
    engine = DiagramEngine(backend=sys.argv[1])

    async def main():
        for source in sources:
            await engine.validate(source)
            await engine.check(source, render="svg")

    asyncio.run(main())
    after = me.memory_info().rss
    [pid] = engine.worker_pids()
    worker = psutil.Process(pid).memory_full_info()
    print(json.dumps({"before": before, "after": after, "worker_rss": worker.rss, "worker_uss": worker.uss}))
    engine.close()
    """
)


def bench_rss(backend: str, sources: list[tuple[str, str]]) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", RSS_SCRIPT, backend],
        input=json.dumps([s for _, s in sources]),
        capture_output=True,
        text=True,
        check=True,
    )
    raw = json.loads(done.stdout.strip().splitlines()[-1])
    mb = {k: v / 2**20 for k, v in raw.items()}
    mb["added"] = mb["after"] - mb["before"] + mb["worker_rss"]
    return mb


def ms(value: float) -> str:
    return f"{value * 1000:8.0f}"


def report(results: list[Figures], rss: dict[str, dict[str, float]]) -> None:
    print(
        f"\n{'engine':<24}{'cold p50':>9}{'cold max':>9}{'warm p50':>9}{'warm p95':>9}"
        f"{'flow p50':>9}{'valid p50':>10}   (ms per diagram; warm = validate+render)"
    )
    for f in results:
        validate = ms(pct(f.warm_validate, 0.5)) if f.warm_validate else "       -"
        print(
            f"{f.name:<24}{ms(pct(f.cold, 0.5))} {ms(max(f.cold))} {ms(pct(f.warm_check, 0.5))} "
            f"{ms(pct(f.warm_check, 0.95))} {ms(pct(f.warm_flowchart, 0.5))}  {validate}"
        )
    cli = next((f for f in results if f.name.startswith("mermaid-cli")), None)
    print()
    for f in results:
        if f is cli:
            continue
        p50 = pct(f.warm_check, 0.5) * 1000
        flow = pct(f.warm_flowchart, 0.5) * 1000
        line = (
            f"{f.name}: warm p50 {p50:.0f} ms (flowchart {flow:.0f} ms) — goal ≤ {GOAL_WARM_P50_MS:.0f}: "
            f"{'met' if p50 <= GOAL_WARM_P50_MS else 'NOT met'}"
        )
        if cli is not None:
            warm_x = pct(cli.warm_check, 0.5) / pct(f.warm_check, 0.5)
            cold_x = pct(cli.cold, 0.5) / pct(f.cold, 0.5)
            line += (
                f"; vs mermaid-cli warm {warm_x:.1f}×, cold {cold_x:.1f}× — goal ≥ {GOAL_SPEEDUP:.0f}×: "
                f"{'met' if warm_x >= GOAL_SPEEDUP else 'NOT met'} (warm)"
            )
        print(line)
    for backend, mb in rss.items():
        print(
            f"{backend}: server RSS {mb['before']:.0f} MB before the engine, {mb['after']:.0f} MB after; "
            f"worker RSS {mb['worker_rss']:.0f} MB (USS {mb['worker_uss']:.0f} MB); "
            f"added {mb['added']:.0f} MB"
            f" — goal ≤ {GOAL_ADDED_RSS_MB:.0f}: {'met' if mb['added'] <= GOAL_ADDED_RSS_MB else 'NOT met'}"
        )


async def run_engines(backends: list[str], sources: list[tuple[str, str]], cold_runs: int) -> list[Figures]:
    return [await bench_engine(backend, sources, cold_runs) for backend in backends]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, help="use the first N valid diagrams (types interleaved)")
    parser.add_argument("--cold-runs", type=int, default=3)
    parser.add_argument("--mmdc-dir", type=Path, default=MMDC_DIR)
    parser.add_argument("--backends", default="quickjs,v8")
    args = parser.parse_args()
    sources = diagrams(args.limit)
    backends = [b for b in args.backends.split(",") if b]
    if "v8" in backends:
        try:
            import py_mini_racer  # noqa: F401
        except ImportError:
            print("v8: mini-racer is not installed (uv run --extra v8 …); skipped", file=sys.stderr)
            backends.remove("v8")
    print(
        f"{len(sources)} diagrams, {len({n.split('/')[0] for n, _ in sources})} types; {os.cpu_count()} CPUs",
        flush=True,
    )
    results = asyncio.run(run_engines(backends, sources, args.cold_runs))
    cli = bench_mmdc(args.mmdc_dir, sources, args.cold_runs)
    if cli is not None:
        results.append(cli)
    rss = {backend: bench_rss(backend, sources[:11]) for backend in backends}
    report(results, rss)


if __name__ == "__main__":
    main()
