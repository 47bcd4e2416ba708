-- One row per loaded day: how many currencies arrived and the smallest rate among them.
-- Used by dags/data_quality/daily_totals_check.py; :rate_date is bound by the DAG.
SELECT
    rate_date,
    COUNT(DISTINCT currency) AS currencies,
    MIN(rate) AS min_rate
FROM exchange_rates
WHERE rate_date = :rate_date
GROUP BY rate_date;
