"""The validator against the corpus: real diagrams and the mistakes models make, each labelled by running
Mermaid's engine (tests/diagrams/label_corpus.py writes labels.json). The engine must agree with every
label, and the corpus must keep covering the eleven diagram types with valid and invalid examples."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from artificer.agents import diagrams

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"
LABELS: dict[str, dict[str, object]] = json.loads((HERE / "labels.json").read_text(encoding="utf-8"))
TYPES = ("flowchart", "sequence", "class", "state", "er", "journey", "gantt", "pie", "mindmap", "timeline")
FILES = sorted(p.relative_to(CORPUS).as_posix() for p in CORPUS.rglob("*.mmd"))


def test_every_file_is_labelled_and_every_label_has_a_file() -> None:
    assert sorted(LABELS) == FILES


def test_corpus_covers_each_type_with_valid_and_invalid_diagrams() -> None:
    assert len(FILES) >= 150
    valid = Counter(name.split("/")[0] for name, label in LABELS.items() if label["valid"])
    invalid = Counter(name.split("/")[0] for name, label in LABELS.items() if not label["valid"])
    for folder in (*TYPES, "sankey"):
        assert valid[folder] >= 4 and invalid[folder] >= 3, (folder, valid[folder], invalid[folder])
    # The mistakes the issue names are in it, with Mermaid's verdict on each.
    for name in (
        "flowchart/x_trailing_percent_comment.mmd",
        "flowchart/x_trailing_hash_comment.mmd",
        "flowchart/x_duplicated_header.mmd",
        "flowchart/x_unquoted_parentheses.mmd",
        "flowchart/x_multiple_classes.mmd",
        "mindmap/x_arrow_edges.mmd",
        "sankey/x_rows_without_commas.mmd",
        "sequence/x_break_inside_alt_unclosed.mmd",
    ):
        assert LABELS[name]["valid"] is False, name
    assert LABELS["sequence/break_inside_alt_valid.mmd"]["valid"] is True


def test_labels_are_consistent() -> None:
    for name, label in LABELS.items():
        assert (label["error"] is None) == label["valid"], name
        # Files written as mistakes start with x_; Mermaid accepting one made it `accepted_…`.
        assert label["valid"] != Path(name).stem.startswith("x_"), name


@pytest.mark.anyio
@pytest.mark.parametrize("name", FILES)
async def test_validator_agrees_with_the_label(name: str) -> None:
    verdict = await diagrams.validate((CORPUS / name).read_text(encoding="utf-8"))
    label = LABELS[name]
    assert (verdict.valid, verdict.type, verdict.error) == (label["valid"], label["type"], label["error"])
