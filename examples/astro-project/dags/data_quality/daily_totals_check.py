"""
### Daily totals check

After each exchange-rates load, checks that every tracked currency arrived for the day and that
no rate is zero or negative. The query lives in `dags/sql/daily_totals.sql`.

A failed check fails the run without retrying (retrying cannot fix bad data); a failing query
retries like any other task.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.datasets import Dataset
from airflow.decorators import dag, task
from airflow.exceptions import AirflowFailException
from airflow.models import Variable
from airflow.providers.sqlite.hooks.sqlite import SqliteHook

from utils.paths import read_sql
from utils.quality import check_daily_totals
from utils.rates import tracked_currencies

EXCHANGE_RATES = Dataset("sqlite://analytics/exchange_rates")


@dag(
    dag_id="daily_totals_check",
    schedule=[EXCHANGE_RATES],
    start_date=pendulum.datetime(2024, 9, 2, tz="UTC"),
    catchup=False,
    default_args={
        "owner": "data-team",
        "retries": 2,
        "retry_delay": timedelta(minutes=1),
    },
    tags=["data-quality", "finance"],
    doc_md=__doc__,
)
def daily_totals_check():
    @task
    def query_totals(rate_date: str) -> list[list]:
        hook = SqliteHook(sqlite_conn_id="analytics_sqlite")
        records = hook.get_records(
            read_sql("daily_totals.sql"), parameters={"rate_date": rate_date}
        )
        return [list(record) for record in records]

    @task
    def evaluate(rows: list[list]) -> None:
        base = Variable.get("base_currency", default_var="EUR")
        expected = len([code for code in tracked_currencies() if code != base])
        result = check_daily_totals([tuple(row) for row in rows], expected_currencies=expected)
        if not result.passed:
            raise AirflowFailException(f"{result.name} failed: " + "; ".join(result.failures))

    evaluate(query_totals(rate_date="{{ macros.team_macros.previous_working_day(ds) }}"))


daily_totals_check()
