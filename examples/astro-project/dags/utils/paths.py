"""Where the project's non-Python files live, whether run by Airflow or by pytest."""

from __future__ import annotations

from pathlib import Path

DAGS_DIR = Path(__file__).resolve().parents[1]
PROJECT_DIR = DAGS_DIR.parent
SQL_DIR = DAGS_DIR / "sql"
INCLUDE_DIR = PROJECT_DIR / "include"


def read_sql(name: str) -> str:
    """Returns the text of ``dags/sql/<name>``."""
    return (SQL_DIR / name).read_text(encoding="utf-8")
