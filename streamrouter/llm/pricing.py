"""Model prices and the cost of one call's token usage.

Prices live in one YAML file with the date they were checked (``streamrouter/prices.yaml``
ships with the package)::

    checked: 2026-11-25
    source: where the numbers come from
    models:
      claude-haiku-4-5: {input: 1, output: 5, cache_write_5m: 1.25, cache_write_1h: 2,
                         cache_read: 0.1}

All prices are USD per million tokens. Loading validates the whole file and raises
``ConfigError`` naming the bad field.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

import yaml

from streamrouter.errors import ConfigError

__all__ = [
    "ModelPrice",
    "PriceTable",
    "TokenUsage",
    "UnknownModelPriceError",
    "price_usage",
]

PER_TOKENS: Final = 1_000_000
"""Prices are per this many tokens."""

_DATED_ID_SEPARATORS: Final = ("-", "@")


class UnknownModelPriceError(ConfigError):
    """No price is configured for the model: add it to the price table."""

    error_type = "unknown_model_price"


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """One model's prices, USD per million tokens."""

    model: str
    input: float
    output: float
    cache_write_5m: float
    cache_write_1h: float
    cache_read: float


_PRICE_FIELDS: Final = tuple(field.name for field in fields(ModelPrice) if field.name != "model")


@dataclass(frozen=True, slots=True)
class TokenUsage:
    """Token counts from the API's ``usage``.

    ``input_tokens`` excludes cached tokens: the API reports cache reads and cache writes
    separately, and each is priced at its own rate.
    """

    input_tokens: int
    output_tokens: int
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{field.name} must be a non-negative int: {value!r}")


def price_usage(price: ModelPrice, usage: TokenUsage) -> float:
    """The cost in USD of ``usage`` at ``price``; cache creation at the 5-minute write rate."""
    return (
        usage.input_tokens * price.input
        + usage.output_tokens * price.output
        + usage.cache_read_input_tokens * price.cache_read
        + usage.cache_creation_input_tokens * price.cache_write_5m
    ) / PER_TOKENS


@dataclass(frozen=True, slots=True)
class PriceTable:
    models: Mapping[str, ModelPrice]
    checked: dt.date
    """When the prices were last checked against the vendor's."""
    source: str = ""

    @classmethod
    def load(cls, path: str | Path) -> PriceTable:
        """Load and validate a price file; any problem raises ``ConfigError``."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read price table {path}: {exc}") from exc
        return cls.from_yaml(text, origin=str(path))

    @classmethod
    def default(cls) -> PriceTable:
        """The price table packaged with streamrouter (``streamrouter/prices.yaml``)."""
        resource = resources.files("streamrouter").joinpath("prices.yaml")
        return cls.from_yaml(
            resource.read_text(encoding="utf-8"), origin="streamrouter/prices.yaml"
        )

    @classmethod
    def from_yaml(cls, text: str, *, origin: str = "<price table>") -> PriceTable:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{origin}: not valid YAML: {exc}") from exc
        return cls.from_mapping(data, origin=origin)

    @classmethod
    def from_mapping(cls, data: object, *, origin: str = "<price table>") -> PriceTable:
        """Validate a parsed price file. Errors name the field, e.g. ``models.x.input``."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"{origin}: must be a mapping with checked, source and models")
        unknown = sorted(set(data) - {"checked", "source", "models"})
        if unknown:
            raise ConfigError(f"{origin}: unknown field(s) {unknown}")
        checked = _parse_checked(data.get("checked"), origin)
        source = data.get("source", "")
        if source is None:
            source = ""
        if not isinstance(source, str):
            raise ConfigError(f"{origin}: source must be a string")
        models = data.get("models")
        if not isinstance(models, Mapping) or not models:
            raise ConfigError(f"{origin}: models must be a non-empty mapping of model id -> prices")
        prices = {
            str(model): _parse_price(str(model), entry, origin) for model, entry in models.items()
        }
        return cls(models=MappingProxyType(prices), checked=checked, source=source.strip())

    def price_for(self, model: str) -> ModelPrice:
        """The price of ``model``: its exact id, else the longest configured id it extends.

        A dated or versioned id extends a configured one after a ``-`` or ``@``, so
        ``claude-haiku-4-5-20251001`` is priced as ``claude-haiku-4-5``, but
        ``claude-opus-4-70`` is not priced as ``claude-opus-4-7``. Raises
        ``UnknownModelPriceError`` when nothing matches.
        """
        exact = self.models.get(model)
        if exact is not None:
            return exact
        candidates = [
            known
            for known in self.models
            if model.startswith(known) and model[len(known)] in _DATED_ID_SEPARATORS
        ]
        if not candidates:
            raise UnknownModelPriceError(
                f"no price for model {model!r}; priced models: {sorted(self.models)}"
            )
        return self.models[max(candidates, key=len)]


def _parse_checked(value: object, origin: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    if value is None:
        raise ConfigError(f"{origin}: checked (the date prices were checked) is missing")
    raise ConfigError(f"{origin}: checked must be a date (YYYY-MM-DD): {value!r}")


def _parse_price(model: str, entry: object, origin: str) -> ModelPrice:
    where = f"{origin}: models.{model}"
    if not isinstance(entry, Mapping):
        raise ConfigError(f"{where} must be a mapping of {list(_PRICE_FIELDS)}")
    unknown = sorted(set(entry) - set(_PRICE_FIELDS))
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {unknown}")
    values: dict[str, Any] = {}
    for name in _PRICE_FIELDS:
        if name not in entry:
            raise ConfigError(f"{where}.{name} is missing")
        value = entry[name]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where}.{name} must be a number: {value!r}")
        if not math.isfinite(value) or value < 0:
            raise ConfigError(f"{where}.{name} must be a non-negative price: {value!r}")
        values[name] = float(value)
    return ModelPrice(model=model, **values)
