from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from streamrouter.errors import ConfigError
from streamrouter.llm.pricing import (
    ModelPrice,
    PriceTable,
    TokenUsage,
    UnknownModelPriceError,
    price_usage,
)

HAIKU = ModelPrice("claude-haiku-4-5", 1.0, 5.0, 1.25, 2.0, 0.1)


def valid_data() -> dict[str, Any]:
    return {
        "checked": dt.date(2026, 11, 25),
        "source": "test",
        "models": {
            "claude-haiku-4-5": {
                "input": 1,
                "output": 5,
                "cache_write_5m": 1.25,
                "cache_write_1h": 2,
                "cache_read": 0.1,
            },
            "claude-x": {
                "input": 9,
                "output": 9,
                "cache_write_5m": 9,
                "cache_write_1h": 9,
                "cache_read": 9,
            },
            "claude-x-2": {
                "input": 2,
                "output": 2,
                "cache_write_5m": 2,
                "cache_write_1h": 2,
                "cache_read": 2,
            },
        },
    }


@pytest.mark.parametrize(
    ("model", "input_price", "output_price"),
    [
        ("claude-haiku-4-5", 1.0, 5.0),
        ("claude-haiku-4-5-20251001", 1.0, 5.0),
        ("claude-sonnet-4-6", 3.0, 15.0),
        ("claude-sonnet-4-6@20260101", 3.0, 15.0),
        ("claude-opus-4-7", 5.0, 25.0),
    ],
)
def test_default_table(model: str, input_price: float, output_price: float) -> None:
    price = PriceTable.default().price_for(model)
    assert (price.input, price.output) == (input_price, output_price)
    assert price.cache_write_5m == pytest.approx(1.25 * input_price)
    assert price.cache_write_1h == pytest.approx(2 * input_price)
    assert price.cache_read == pytest.approx(0.1 * input_price)


def test_default_table_checked_date() -> None:
    table = PriceTable.default()
    assert table.checked == dt.date(2026, 11, 25)
    assert table.source


@pytest.mark.parametrize(
    ("model", "priced_as"),
    [
        ("claude-x", "claude-x"),
        ("claude-x-1", "claude-x"),
        ("claude-x-2", "claude-x-2"),
        ("claude-x-2-20260101", "claude-x-2"),  # the longest matching id wins
    ],
)
def test_price_for_longest_prefix(model: str, priced_as: str) -> None:
    assert PriceTable.from_mapping(valid_data()).price_for(model).model == priced_as


@pytest.mark.parametrize("model", ["claude-opus-4-70", "gpt-4", "", "claude-haiku-4"])
def test_price_for_unknown_model(model: str) -> None:
    with pytest.raises(UnknownModelPriceError):
        PriceTable.default().price_for(model)


def test_unknown_model_price_error_is_config_error() -> None:
    assert issubclass(UnknownModelPriceError, ConfigError)


@pytest.mark.parametrize(
    ("usage", "cost"),
    [
        (TokenUsage(0, 0), 0.0),
        (TokenUsage(1_000_000, 0), 1.0),
        (TokenUsage(0, 1_000_000), 5.0),
        (TokenUsage(1000, 500), 0.0035),
        (TokenUsage(0, 0, cache_read_input_tokens=1_000_000), 0.1),
        (TokenUsage(0, 0, cache_creation_input_tokens=1_000_000), 1.25),
        (TokenUsage(100, 200, 3000, 400), (100 * 1 + 200 * 5 + 3000 * 0.1 + 400 * 1.25) / 1e6),
    ],
)
def test_price_usage(usage: TokenUsage, cost: float) -> None:
    assert price_usage(HAIKU, usage) == pytest.approx(cost)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"input_tokens": -1, "output_tokens": 0},
        {"input_tokens": 0, "output_tokens": 0, "cache_read_input_tokens": -5},
        {"input_tokens": 1.5, "output_tokens": 0},
        {"input_tokens": True, "output_tokens": 0},
    ],
)
def test_token_usage_rejects(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        TokenUsage(**kwargs)


def test_load_file(tmp_path: Path) -> None:
    path = tmp_path / "prices.yaml"
    path.write_text(yaml.safe_dump(valid_data()))
    table = PriceTable.load(path)
    assert table.checked == dt.date(2026, 11, 25)
    assert table.price_for("claude-haiku-4-5") == HAIKU


def test_checked_as_string() -> None:
    data = valid_data()
    data["checked"] = "2026-01-02"
    assert PriceTable.from_mapping(data).checked == dt.date(2026, 1, 2)


def _without(data: dict[str, Any], *path: str) -> dict[str, Any]:
    target = data
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return data


def _with(data: dict[str, Any], value: Any, *path: str) -> dict[str, Any]:
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return data


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (_without(valid_data(), "checked"), "checked"),
        (_with(valid_data(), "last week", "checked"), "checked"),
        (_with(valid_data(), 20261125, "checked"), "checked"),
        (_without(valid_data(), "models"), "models"),
        (_with(valid_data(), {}, "models"), "models"),
        (_with(valid_data(), ["claude-x"], "models"), "models"),
        (_without(valid_data(), "models", "claude-x", "cache_read"), "models.claude-x.cache_read"),
        (_with(valid_data(), -1, "models", "claude-x", "input"), "models.claude-x.input"),
        (_with(valid_data(), "3", "models", "claude-x", "output"), "models.claude-x.output"),
        (_with(valid_data(), True, "models", "claude-x", "output"), "models.claude-x.output"),
        (_with(valid_data(), float("nan"), "models", "claude-x", "input"), "models.claude-x"),
        (_with(valid_data(), 1, "models", "claude-x", "ouput"), "ouput"),
        (_with(valid_data(), 5, "models", "claude-x"), "models.claude-x"),
        (_with(valid_data(), "x", "currency"), "currency"),
        (_with(valid_data(), 3, "source"), "source"),
        ([], "mapping"),
        (None, "mapping"),
    ],
)
def test_invalid_tables(data: Any, field: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(field)):
        PriceTable.from_mapping(data)


def test_load_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.yaml"):
        PriceTable.load(tmp_path / "nope.yaml")


@pytest.mark.parametrize("text", ["models: [unclosed", "", "just a string"])
def test_load_bad_yaml(tmp_path: Path, text: str) -> None:
    path = tmp_path / "prices.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=r"prices\.yaml"):
        PriceTable.load(path)
