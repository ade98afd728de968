"""PostgreSQL as a second home: the Dagster instance's storage (`instance`) and a serving target for the
marts that networked BI tools (DataLens, Metabase, Superset, Power BI, Excel) query (`publish`, `swap`).

Everything here is off unless configured (`settings`): with no PostgreSQL URL set, nothing changes.
"""
