"""Labeled routing data: prompts, per-model correctness labels and recorded responses.

Two file formats hold the same thing:

* ``routellm`` (CSV, RouteLLM's format): a ``prompt`` column, one boolean column per
  model (``True``/``False``: was that model's answer correct), optionally a
  ``<model>_response`` column per model with its full answer text, and any other
  columns (kept as ``fields``, e.g. MMLU's ``subject``);
* ``jsonl``: one JSON object per line with the same keys (``prompt``, ``<model>``:
  true/false, ``<model>_response``: text, anything else).

A model column is one whose every value is a boolean. ``load_dataset`` validates the
whole file and raises ``DatasetError`` naming the row and column of the first problem.
``split_examples`` is a deterministic train/test split keyed by a hash of each prompt,
so a prompt lands in the same split whatever the file's row order.
"""

from __future__ import annotations

import csv
import hashlib
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from streamrouter.errors import ConfigError

__all__ = [
    "RESPONSE_SUFFIX",
    "Dataset",
    "DatasetError",
    "DatasetFormat",
    "Example",
    "load_dataset",
    "split_examples",
]

DatasetFormat = Literal["routellm", "jsonl"]
RESPONSE_SUFFIX = "_response"
_TRUE = {"true": True, "false": False, "1": True, "0": False}


class DatasetError(ConfigError):
    """A labeled dataset file is missing, unreadable or malformed."""


@dataclass(frozen=True, slots=True)
class Example:
    """One labeled prompt."""

    prompt: str
    correct: Mapping[str, bool]
    """Per model column: was its answer correct."""
    responses: Mapping[str, str] = field(default_factory=dict)
    """Per model column: its recorded answer text (absent when the data has none)."""
    fields: Mapping[str, str] = field(default_factory=dict)
    """Every other column, as text."""


@dataclass(frozen=True, slots=True)
class Dataset:
    path: Path
    examples: tuple[Example, ...]
    models: tuple[str, ...]
    """The model columns, in file order."""

    def require_models(self, *models: str) -> None:
        """Raise ``DatasetError`` unless every one of ``models`` is a label column."""
        missing = [model for model in models if model not in self.models]
        if missing:
            raise DatasetError(
                f"{self.path}: no label column {missing}; model columns are {list(self.models)}"
            )

    def has_responses(self, model: str) -> bool:
        return any(model in example.responses for example in self.examples)


def load_dataset(path: str | Path, fmt: DatasetFormat | None = None) -> Dataset:
    """Read a RouteLLM CSV or a JSONL file (``fmt`` None: by suffix, ``.jsonl`` is JSONL)."""
    path = Path(path)
    fmt = fmt or ("jsonl" if path.suffix in (".jsonl", ".ndjson") else "routellm")
    try:
        rows = _read_jsonl(path) if fmt == "jsonl" else _read_csv(path)
    except OSError as exc:
        raise DatasetError(f"cannot read dataset {path}: {exc}") from exc
    if not rows:
        raise DatasetError(f"{path}: no rows")
    return Dataset(path, *_parse_rows(path, rows))


def _read_csv(path: Path) -> list[dict[str, Any]]:
    csv.field_size_limit(sys.maxsize)
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as exc:
                raise DatasetError(f"{path}:{number}: not JSON: {exc}") from exc
            if not isinstance(row, dict):
                raise DatasetError(f"{path}:{number}: expected a JSON object")
            rows.append(row)
    return rows


def _as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        return _TRUE.get(value.strip().lower())
    return None


def _parse_rows(
    path: Path, rows: Sequence[Mapping[str, Any]]
) -> tuple[tuple[Example, ...], tuple[str, ...]]:
    columns = list(dict.fromkeys(key for row in rows for key in row))
    if "prompt" not in columns:
        raise DatasetError(f"{path}: no 'prompt' column (columns: {columns})")
    models = tuple(
        column
        for column in columns
        if column != "prompt"
        and not column.endswith(RESPONSE_SUFFIX)
        and all(_as_bool(row.get(column)) is not None for row in rows)
    )
    if not models:
        raise DatasetError(f"{path}: no model column (a column of True/False labels)")
    response_columns = {f"{m}{RESPONSE_SUFFIX}" for m in models}
    other = [c for c in columns if c != "prompt" and c not in models and c not in response_columns]
    examples = []
    for number, row in enumerate(rows, start=1):
        prompt = row.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise DatasetError(f"{path}: row {number}: 'prompt' is empty")
        responses = {
            m: str(row[f"{m}{RESPONSE_SUFFIX}"])
            for m in models
            if row.get(f"{m}{RESPONSE_SUFFIX}") not in (None, "")
        }
        examples.append(
            Example(
                prompt=prompt,
                correct={m: bool(_as_bool(row[m])) for m in models},
                responses=responses,
                fields={c: str(row[c]) for c in other if row.get(c) is not None},
            )
        )
    return tuple(examples), models


def prompt_unit(prompt: str, seed: int = 0) -> float:
    """A deterministic number in [0, 1) from the prompt and a seed."""
    digest = hashlib.sha256(f"{seed}\x1f{prompt}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_examples(
    examples: Iterable[Example], test_fraction: float, seed: int = 0
) -> tuple[list[Example], list[Example]]:
    """``(train, test)``: a prompt is in test when its hash falls below ``test_fraction``."""
    if not 0 <= test_fraction <= 1:
        raise ValueError(f"test_fraction must be in [0, 1]: {test_fraction}")
    train: list[Example] = []
    test: list[Example] = []
    for example in examples:
        (test if prompt_unit(example.prompt, seed) < test_fraction else train).append(example)
    return train, test
