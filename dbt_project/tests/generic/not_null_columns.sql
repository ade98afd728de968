{#- Fails when any of `columns` is null in some row: one row per such column, with its count of null rows
    (the failure count is their sum). One dbt node for all the columns a model keeps never null, where a
    not_null test per column cost dbt its fixed compile-and-run work per column (README "Check"). One
    `where column is null` per column, as dbt's not_null does: DuckDB answers it from its row-group
    statistics (and pushes it into a view's scans) without reading the column, which one pass counting
    every column's nulls cannot (about 10 times the CPU on the 1M-lead warehouse). A column whose rule has
    a condition keeps its own not_null test. -#}
{% test not_null_columns(model, columns) %}
{{ config(fail_calc='coalesce(sum(null_rows), 0)') }}

{% for column in columns -%}
select '{{ column }}' as null_column, count(*) as null_rows
from {{ model }}
where {{ column }} is null
having count(*) > 0
{{ 'union all' if not loop.last }}
{% endfor %}
{% endtest %}
