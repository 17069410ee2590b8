"""Small labeled datasets the eval tests make themselves (never the shared files)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

WEAK = "org/weak-model"
STRONG = "org/strong-model"

CLEAN = "Each box holds 4 x 3 = <<4*3=12>>12 apples.\n#### 12"
WRONG_SUM = "She has 12 + 15 = <<12+15=28>>28 marbles.\n#### 28"
UNFINISHED = "First 40 + 25 = <<40+25"
UNMARKED = "He walks 3 x 2 = 6 miles, then 6 + 4 = 10 miles in all."
STRONG_ANSWER = "Working it through carefully, the result is 12.\n#### 12"


def labeled_rows(count: int) -> list[dict[str, str]]:
    """``count`` prompts: the weak answer's look predicts whether it is right.

    Every fourth weak answer is flawed (a wrong sum, an unfinished text or an unmarked
    calculation) and wrong; the others are clean and right, except every seventh. The
    strong model is right except on every fifth prompt.
    """
    rows = []
    flawed = (WRONG_SUM, UNFINISHED, UNMARKED)
    for index in range(count):
        bad = index % 4 == 0
        weak_answer = flawed[(index // 4) % 3] if bad else CLEAN
        weak_right = not bad and index % 7 != 3
        rows.append(
            {
                "prompt": f"Question {index}: how many apples are in box {index}?",
                WEAK: str(weak_right),
                STRONG: str(index % 5 != 2),
                f"{WEAK}_response": weak_answer,
                f"{STRONG}_response": f"{STRONG_ANSWER} (#{index})",
            }
        )
    return rows


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture
def labeled_csv(tmp_path: Path) -> Path:
    return write_csv(tmp_path / "labeled.csv", labeled_rows(40))
