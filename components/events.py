"""The payloads the shipped components exchange, declared once and checked by the framework.

Publishers declare them (`payloads`), subscribers say what they rely on (`requires`): a field
renamed on one side is an error of `integrate check` and a rejected reload, not a KeyError in a
handler. Dataclasses reach a handler as objects when its parameter is annotated with one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from typing_extensions import TypedDict  # Pydantic reads typing.TypedDict only from Python 3.12


@dataclass(frozen=True)
class Tick:
    """`market.tick`: the last price of a symbol."""

    symbol: str
    price: float


@dataclass(frozen=True)
class Signal:
    """`signal.generated`: a moving-average crossover, and the windows that found it."""

    symbol: str
    side: Literal["buy", "sell"]
    price: float
    fast: int
    slow: int


class Trade(TypedDict):
    """`trade.executed`: a fill, once the trade store has it."""

    id: str
    time: float
    symbol: str
    side: Literal["buy", "sell"]
    quantity: float
    price: float


class TradeRefused(TypedDict):
    """`trade.refused`: an order the risk limits or the trade store turned down."""

    symbol: str
    side: Literal["buy", "sell"]
    reason: str
