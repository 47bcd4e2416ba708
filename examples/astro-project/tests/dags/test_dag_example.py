"""DAG integrity tests, run by `astro dev pytest`.

Every file in dags/ imports without error, and every DAG has tags, an owner and at least two
retries. Adapted from the test `astro dev init` creates.
"""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from pathlib import Path

import pytest
from airflow.models import DagBag

DAGS_FOLDER = Path(__file__).resolve().parents[2] / "dags"
APPROVED_TAGS = {"etl", "finance", "data-quality", "reporting", "example"}


@contextmanager
def suppress_logging(namespace: str):
    logger = logging.getLogger(namespace)
    old_value = logger.disabled
    logger.disabled = True
    try:
        yield
    finally:
        logger.disabled = old_value


def get_dag_bag() -> DagBag:
    with suppress_logging("airflow"):
        return DagBag(dag_folder=str(DAGS_FOLDER), include_examples=False)


DAG_BAG = get_dag_bag()


def strip_path_prefix(path: str) -> str:
    return os.path.relpath(path, DAGS_FOLDER.parent)


def get_import_errors():
    # (None, None) first, so that the test runs (and passes) when there is no error at all.
    return [(None, None)] + [
        (strip_path_prefix(path), error.strip()) for path, error in DAG_BAG.import_errors.items()
    ]


def get_dags():
    return [(dag_id, dag, strip_path_prefix(dag.fileloc)) for dag_id, dag in DAG_BAG.dags.items()]


@pytest.mark.parametrize("rel_path,rv", get_import_errors(), ids=[x[0] for x in get_import_errors()])
def test_file_imports(rel_path, rv):
    if rel_path and rv:
        raise Exception(f"{rel_path} failed to import with message \n {rv}")


def test_all_dags_found():
    assert set(DAG_BAG.dag_ids) == {
        "daily_totals_check",
        "example_astronauts",
        "exchange_rates_etl",
        "weekly_rates_report",
    }


@pytest.mark.parametrize("dag_id,dag,fileloc", get_dags(), ids=[x[2] for x in get_dags()])
def test_dag_tags(dag_id, dag, fileloc):
    assert dag.tags, f"{dag_id} in {fileloc} has no tags"
    unapproved = set(dag.tags) - APPROVED_TAGS
    assert not unapproved, f"{dag_id} in {fileloc} has unapproved tags {sorted(unapproved)}"


@pytest.mark.parametrize("dag_id,dag,fileloc", get_dags(), ids=[x[2] for x in get_dags()])
def test_dag_retries(dag_id, dag, fileloc):
    retries = dag.default_args.get("retries", 0)
    assert retries >= 2, f"{dag_id} in {fileloc} must have task retries >= 2"


@pytest.mark.parametrize("dag_id,dag,fileloc", get_dags(), ids=[x[2] for x in get_dags()])
def test_dag_owner(dag_id, dag, fileloc):
    assert dag.default_args.get("owner"), f"{dag_id} in {fileloc} has no owner"
