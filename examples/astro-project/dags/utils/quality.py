"""Small, explicit data-quality rules the team reuses across checks."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class CheckResult:
    name: str
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures

    def require(self, condition: bool, message: str) -> None:
        if not condition:
            self.failures.append(message)


def check_daily_totals(rows: list[tuple], expected_currencies: int) -> CheckResult:
    """Checks the rows of ``dags/sql/daily_totals.sql``: (rate_date, currencies, min_rate)."""
    result = CheckResult(name="daily_totals")
    result.require(len(rows) > 0, "no rates were loaded for the day")
    for rate_date, currencies, min_rate in rows:
        result.require(
            currencies == expected_currencies,
            f"{rate_date}: {currencies} currencies loaded, expected {expected_currencies}",
        )
        result.require(min_rate is not None and min_rate > 0, f"{rate_date}: a rate is <= 0")
    return result
