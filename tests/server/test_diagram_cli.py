"""`artificer diagram check`: JSON lines, exit codes, --render; the console script as a user runs it, and
`main()` in-process for the cases that need no subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from artificer.server import cli

CORPUS = Path(__file__).resolve().parents[1] / "diagrams" / "corpus"
LABELS = json.loads((CORPUS.parent / "labels.json").read_text(encoding="utf-8"))
ARTIFICER = Path(sys.executable).parent / "artificer"
VALID = ["flowchart/release_pipeline.mmd", "sequence/alt_opt_loop.mmd", "er/orders.mmd"]
INVALID = ["flowchart/x_unquoted_parentheses.mmd", "sankey/x_rows_without_commas.mmd"]


def main(argv: list[str]) -> int:
    """`artificer …` in-process, on a thread of its own (the session's anyio runner owns this one's loop)."""
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(cli.main, argv).result()


def env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("ARTIFICER_") and k != "DATABASE_URL"}


def test_console_script_checks_files_and_renders_the_valid_ones(tmp_path: Path) -> None:
    names = [VALID[0], INVALID[0], VALID[1], INVALID[1], VALID[2]]
    out = tmp_path / "svg"
    result = subprocess.run(
        [str(ARTIFICER), "diagram", "check", *(str(CORPUS / n) for n in names), "--render", str(out)],
        capture_output=True,
        text=True,
        env=env(),
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 1, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["file"] for line in lines] == [str(CORPUS / n) for n in names]
    for name, line in zip(names, lines, strict=True):
        label = LABELS[name]
        assert set(line) == {"file", "valid", "type", "error"}
        assert (line["valid"], line["type"], line["error"]) == (label["valid"], label["type"], label["error"])
    assert sorted(p.name for p in out.iterdir()) == ["alt_opt_loop.svg", "orders.svg", "release_pipeline.svg"]
    assert "<svg" in (out / "orders.svg").read_text(encoding="utf-8")
    assert "CUSTOMER" in (out / "orders.svg").read_text(encoding="utf-8")


def test_all_valid_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diagram", "check", *(str(CORPUS / n) for n in VALID)]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["valid"] for line in lines] == [True, True, True]
    assert [line["type"] for line in lines] == ["flowchart-v2", "sequence", "er"]


def test_usage_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diagram", "check", str(tmp_path / "missing.mmd")]) == 2
    assert "cannot read" in capsys.readouterr().err
    same_stem = [
        str(CORPUS / "flowchart/x_duplicated_header.mmd"),
        str(CORPUS / "er/x_duplicated_header.mmd"),
    ]
    assert main(["diagram", "check", *same_stem, "--render", str(tmp_path / "out")]) == 2
    assert "would both be rendered" in capsys.readouterr().err
    a_file = tmp_path / "file"
    a_file.write_text("x")
    assert main(["diagram", "check", str(CORPUS / VALID[0]), "--render", str(a_file)]) == 2
    assert "cannot use" in capsys.readouterr().err
    for argv in (["diagram", "check"], ["diagram", "check", "a.mmd", "--jobs", "x"]):
        with pytest.raises(SystemExit) as raised:
            main(argv)
        assert raised.value.code == 2
