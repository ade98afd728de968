"""amocrm-kpi: amoCRM (Kommo) -> DuckDB sales-KPI warehouse (dlt, dbt-duckdb, Dagster)."""
