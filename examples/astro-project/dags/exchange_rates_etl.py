"""
### Exchange rates ETL

Loads the day's reference exchange rates for the currencies in `include/currencies.csv` from the
public [Frankfurter API](https://www.frankfurter.app) (ECB data) into the `exchange_rates` table
of the team's SQLite database.

The ECB publishes around 16:00 CET on working days, so the DAG runs at 17:00 UTC on weekdays.
The API is free and occasionally slow: the extract retries with exponential backoff and runs in
the `public_apis` pool.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.datasets import Dataset
from airflow.decorators import dag, task
from airflow.models import Variable
from airflow.providers.http.hooks.http import HttpHook
from airflow.providers.sqlite.hooks.sqlite import SqliteHook

from utils.rates import CREATE_TABLE, parse_rates, tracked_currencies

EXCHANGE_RATES = Dataset("sqlite://analytics/exchange_rates")
COLUMNS = ["rate_date", "base", "currency", "rate", "loaded_at"]


@dag(
    dag_id="exchange_rates_etl",
    schedule="0 17 * * 1-5",
    start_date=pendulum.datetime(2024, 9, 2, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={
        "owner": "data-team",
        "retries": 3,
        "retry_delay": timedelta(minutes=2),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=30),
    },
    tags=["etl", "finance"],
    doc_md=__doc__,
)
def exchange_rates_etl():
    @task(pool="public_apis", execution_timeout=timedelta(minutes=5))
    def extract(ds: str | None = None) -> dict[str, Any]:
        base = Variable.get("base_currency", default_var="EUR")
        hook = HttpHook(method="GET", http_conn_id="frankfurter_api")
        response = hook.run(endpoint=f"/{ds}", data={"from": base})
        return response.json()

    @task
    def transform(payload: dict[str, Any]) -> list[list[Any]]:
        loaded_at = pendulum.now("UTC").to_iso8601_string()
        rates = parse_rates(payload, tracked_currencies())
        return [list(rate.as_row(loaded_at)) for rate in rates]

    @task(outlets=[EXCHANGE_RATES])
    def load(rows: list[list[Any]]) -> int:
        hook = SqliteHook(sqlite_conn_id="analytics_sqlite")
        hook.run(CREATE_TABLE)
        hook.insert_rows(
            table="exchange_rates", rows=rows, target_fields=COLUMNS, replace=True
        )
        return len(rows)

    load(transform(extract()))


exchange_rates_etl()
