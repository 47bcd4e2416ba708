"""
## Astronaut ETL example DAG

The starter DAG from `astro dev init`, kept as the team's reference for dynamic task mapping:
queries the list of astronauts currently in space from the Open Notify API, then prints each
astronaut's name and craft, one mapped task instance per astronaut.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
import requests
from airflow.datasets import Dataset
from airflow.decorators import dag, task


@dag(
    start_date=pendulum.datetime(2024, 9, 2, tz="UTC"),
    schedule="@daily",
    catchup=False,
    doc_md=__doc__,
    default_args={"owner": "Astro", "retries": 3, "retry_delay": timedelta(minutes=1)},
    tags=["example"],
)
def example_astronauts():
    @task(outlets=[Dataset("current_astronauts")])
    def get_astronauts(**context) -> list[dict]:
        """Returns the people in space now, from the Open Notify API."""
        response = requests.get("http://api.open-notify.org/astros.json", timeout=30)
        response.raise_for_status()
        number_of_people_in_space = response.json()["number"]
        list_of_people_in_space = response.json()["people"]

        context["ti"].xcom_push(key="number_of_people_in_space", value=number_of_people_in_space)
        return list_of_people_in_space

    @task
    def print_astronaut_craft(greeting: str, person_in_space: dict) -> None:
        craft = person_in_space["craft"]
        name = person_in_space["name"]
        print(f"{name} is currently in space flying on the {craft}! {greeting}")

    print_astronaut_craft.partial(greeting="Hello! :)").expand(
        person_in_space=get_astronauts()
    )


example_astronauts()
