"""Jinja macros for the team's templates, available as ``macros.team_macros.<name>``."""

from __future__ import annotations

import pendulum
from airflow.plugins_manager import AirflowPlugin


def previous_working_day(ds: str) -> str:
    """The working day (Monday to Friday) before ``ds``, as ``YYYY-MM-DD``.

    The ECB publishes no rates on weekends, so checks of "yesterday's" load look here.
    """
    day = pendulum.parse(ds).subtract(days=1)
    while day.day_of_week in (pendulum.SATURDAY, pendulum.SUNDAY):
        day = day.subtract(days=1)
    return day.to_date_string()


class TeamMacrosPlugin(AirflowPlugin):
    name = "team_macros"
    macros = [previous_working_day]
