"""Helpers shared by the team's DAGs.

Airflow puts the dags/ folder on sys.path, so DAG files import these as ``utils.<module>``.
This folder holds no DAGs; ``dags/.airflowignore`` keeps the scheduler from parsing it.
"""
