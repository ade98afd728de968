{#- Fails when any of `columns` is null in some row: one row per such column, with its count of null rows
    (the failure count is their sum). One query and one dbt node for all the columns a model keeps never
    null, where a not_null test per column cost dbt its fixed compile-and-run work per column
    (README "Tests and benchmarks"). A column whose rule has a condition keeps its own not_null test. -#}
{% test not_null_columns(model, columns) %}
{{ config(fail_calc='coalesce(sum(null_rows), 0)') }}

with null_counts as materialized (
    select
        {%- for column in columns %}
        count(*) filter (where {{ column }} is null) as null_{{ loop.index }}{{ ',' if not loop.last }}
        {%- endfor %}
    from {{ model }}
)

{% for column in columns -%}
select '{{ column }}' as null_column, null_{{ loop.index }} as null_rows
from null_counts
where null_{{ loop.index }} > 0
{{ 'union all' if not loop.last }}
{% endfor %}
{% endtest %}
