"""Turning Frankfurter API answers into rows for the ``exchange_rates`` table."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from utils.paths import INCLUDE_DIR

CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS exchange_rates (
    rate_date   TEXT NOT NULL,
    base        TEXT NOT NULL,
    currency    TEXT NOT NULL,
    rate        REAL NOT NULL,
    loaded_at   TEXT NOT NULL,
    PRIMARY KEY (rate_date, base, currency)
)
"""


@dataclass(frozen=True)
class Rate:
    rate_date: str
    base: str
    currency: str
    rate: float

    def as_row(self, loaded_at: str) -> tuple[str, str, str, float, str]:
        return (self.rate_date, self.base, self.currency, self.rate, loaded_at)


def tracked_currencies(path: Path = INCLUDE_DIR / "currencies.csv") -> list[str]:
    """The ISO codes listed in ``include/currencies.csv`` whose ``active`` column is ``yes``."""
    with path.open(newline="", encoding="utf-8") as handle:
        return [
            row["code"].strip().upper()
            for row in csv.DictReader(handle)
            if row.get("active", "").strip().lower() == "yes"
        ]


def parse_rates(payload: dict[str, Any], wanted: Iterable[str]) -> list[Rate]:
    """Picks the wanted currencies out of a ``/latest`` or ``/<date>`` answer.

    Raises ``ValueError`` when the answer lacks a wanted currency, so the task fails and retries
    instead of loading a partial day.
    """
    base = payload["base"]
    rate_date = payload["date"]
    rates = payload["rates"]
    missing = sorted(code for code in wanted if code != base and code not in rates)
    if missing:
        raise ValueError(f"rates for {rate_date} lack {', '.join(missing)}")
    return [
        Rate(rate_date=rate_date, base=base, currency=code, rate=float(rates[code]))
        for code in wanted
        if code != base
    ]


def percent_change(old: float, new: float) -> float:
    """Change from ``old`` to ``new`` in percent, rounded to two decimals."""
    if old == 0:
        raise ValueError("cannot compute a change from a rate of 0")
    return round((new - old) / old * 100, 2)
