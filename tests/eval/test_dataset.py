from __future__ import annotations

import json
from pathlib import Path

import pytest

from streamrouter.eval.dataset import DatasetError, load_dataset, split_examples

from .conftest import STRONG, WEAK, labeled_rows, write_csv


def test_routellm_csv(labeled_csv: Path) -> None:
    data = load_dataset(labeled_csv)
    assert data.models == (WEAK, STRONG)
    assert len(data.examples) == 40
    first = data.examples[0]
    assert first.correct == {WEAK: False, STRONG: True}
    assert first.responses[WEAK].startswith("She has 12 + 15")
    assert data.has_responses(STRONG)


def test_labels_only_and_extra_columns(tmp_path: Path) -> None:
    path = tmp_path / "mmlu.csv"
    path.write_text(f'prompt,subject,{WEAK},{STRONG}\n"Q1\nA. x",algebra,True,False\n')
    data = load_dataset(path)
    assert data.models == (WEAK, STRONG)
    assert data.examples[0].fields == {"subject": "algebra"}
    assert data.examples[0].prompt == "Q1\nA. x"
    assert not data.has_responses(WEAK)


def test_jsonl_same_keys(tmp_path: Path) -> None:
    path = tmp_path / "data.jsonl"
    rows = [{"prompt": "p1", WEAK: True, STRONG: False, f"{WEAK}_response": "a"}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    data = load_dataset(path)
    assert data.examples[0].correct == {WEAK: True, STRONG: False}
    assert data.examples[0].responses == {WEAK: "a"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("question,a\nx,True\n", "no 'prompt' column"),
        ("prompt,a\nx,maybe\n", "no model column"),
        ("prompt,a\n,True\n", "row 1: 'prompt' is empty"),
        ("prompt\n", "no rows"),
    ],
)
def test_bad_files(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(DatasetError, match=message):
        load_dataset(path)


def test_missing_model_column_is_named(labeled_csv: Path) -> None:
    with pytest.raises(DatasetError, match="no label column"):
        load_dataset(labeled_csv).require_models("nobody")


def test_split_is_deterministic_and_order_free(tmp_path: Path) -> None:
    rows = labeled_rows(60)
    forward = load_dataset(write_csv(tmp_path / "a.csv", rows)).examples
    backward = load_dataset(write_csv(tmp_path / "b.csv", rows[::-1])).examples
    train, test = split_examples(forward, 0.3)
    _, test_b = split_examples(backward, 0.3)
    assert {e.prompt for e in test} == {e.prompt for e in test_b}
    assert len(train) + len(test) == 60
    assert 8 <= len(test) <= 28
    assert not {e.prompt for e in train} & {e.prompt for e in test}
