"""
### Weekly rates report

Every Monday, summarizes how each tracked currency moved against the base currency over the
previous week, one mapped task per currency, and logs a small Markdown table for the team's
Slack digest.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.decorators import dag, task
from airflow.providers.sqlite.hooks.sqlite import SqliteHook

from utils.rates import percent_change, tracked_currencies

WEEK_RANGE_SQL = """
SELECT rate FROM exchange_rates
WHERE currency = :currency AND rate_date BETWEEN :start AND :end
ORDER BY rate_date
"""


@dag(
    dag_id="weekly_rates_report",
    schedule="0 7 * * 1",
    start_date=pendulum.datetime(2024, 9, 2, tz="UTC"),
    catchup=False,
    default_args={
        "owner": "data-team",
        "retries": 2,
        "retry_delay": timedelta(minutes=5),
    },
    tags=["reporting", "finance"],
    doc_md=__doc__,
)
def weekly_rates_report():
    @task
    def currencies() -> list[str]:
        return tracked_currencies()

    @task(map_index_template="{{ task.op_kwargs['currency'] }}")
    def weekly_change(currency: str, data_interval_start=None, data_interval_end=None) -> dict:
        hook = SqliteHook(sqlite_conn_id="analytics_sqlite")
        rows = hook.get_records(
            WEEK_RANGE_SQL,
            parameters={
                "currency": currency,
                "start": data_interval_start.to_date_string(),
                "end": data_interval_end.to_date_string(),
            },
        )
        if len(rows) < 2:
            return {"currency": currency, "change": None}
        return {"currency": currency, "change": percent_change(rows[0][0], rows[-1][0])}

    @task
    def report(changes: list[dict]) -> str:
        lines = ["| currency | change over the week |", "|---|---|"]
        for item in sorted(changes, key=lambda c: c["currency"]):
            change = "n/a" if item["change"] is None else f"{item['change']:+.2f} %"
            lines.append(f"| {item['currency']} | {change} |")
        table = "\n".join(lines)
        print(table)
        return table

    report(weekly_change.expand(currency=currencies()))


weekly_rates_report()
