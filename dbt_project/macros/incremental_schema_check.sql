{#-
  dbt's on_schema_change check of an incremental run (the new rows' temp table against the stored table), as dbt's
  default__check_for_schema_changes, with one difference: the two column lists are read through the
  get_columns_in_relation macro in the model's own context rather than adapter.get_columns_in_relation, which
  builds a fresh runtime context of every macro for each call (5-10 ms of serial Python; twice per incremental
  model per build). Same DESCRIBE, same diff, same result dict: `fail`, `append_new_columns` and
  `sync_all_columns` then behave exactly as dbt's. The project's own macros read a relation's columns the same way
  (`get_columns_in_relation(relation)`, not `adapter.get_columns_in_relation`); unlike the adapter's, it fails on a
  relation that does not exist, so they call it only on one that does (`this` of an incremental run, a source).
  The project's incremental materialization (incremental_materialization.sql) has already described both relations
  in the statement that made the temporary table: their columns are taken from that result, no query at all.
-#}
{% macro duckdb__check_for_schema_changes(source_relation, target_relation) %}
    {%- set described = load_result('amocrm_kpi_incremental_columns') -%}
    {%- set source_columns = amocrm_kpi_columns_of(described.table, source_relation) if described else none -%}
    {%- set target_columns = amocrm_kpi_columns_of(described.table, target_relation) if described else none -%}
    {%- if source_columns is none or target_columns is none -%}
        {%- set source_columns = get_columns_in_relation(source_relation) -%}
        {%- set target_columns = get_columns_in_relation(target_relation) -%}
    {%- endif -%}
    {%- set source_not_in_target = diff_columns(source_columns, target_columns) -%}
    {%- set target_not_in_source = diff_columns(target_columns, source_columns) -%}
    {%- set new_target_types = diff_column_data_types(source_columns, target_columns) -%}
    {%- set schema_changed = source_not_in_target != [] or target_not_in_source != [] or new_target_types != [] -%}
    {%- set changes_dict = {
        'schema_changed': schema_changed,
        'source_not_in_target': source_not_in_target,
        'target_not_in_source': target_not_in_source,
        'source_columns': source_columns,
        'target_columns': target_columns,
        'new_target_types': new_target_types
    } -%}
    {%- do log('In ' ~ target_relation ~ ': schema changed: ' ~ schema_changed ~ '; source columns not in target: '
        ~ source_not_in_target ~ '; target columns not in source: ' ~ target_not_in_source
        ~ '; new column types: ' ~ new_target_types) -%}
    {{ return(changes_dict) }}
{% endmacro %}
