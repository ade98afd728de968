{#-
  An incremental model's `row_key` (config: the columns that identify one of its rows) enforced where its rows are
  written, as a primary key would be: inside the model's transaction, a build after which a key would be null or
  shared by two rows fails, naming the first such keys, and its transaction is rolled back (the table keeps the rows
  of its last good build; the models and tests below it are skipped, and Dagster reports the failed model).
  For tables of millions of rows (int_activities, int_activity_attribution, int_lead_touches, int_lead_events,
  int_lead_status_history) it replaces the uniqueness rule of their column_rules test, which sorted every key of the
  table each day (0.5 to 1.2 CPU s a table at a million leads) although a daily run writes a few thousand rows.
  Only the rows that can break the key are read:
  - a first build or a full refresh: every row (duplicate_keys);
  - delete+insert on a unique_key made of row_key columns: the stored rows sharing a key with a new row were just
    deleted, so only the new rows can repeat one (a null in the key is refused: `=` would not have matched it);
  - any other strategy (append after a pre-hook's delete): the stored rows sharing a key with a new row.
-#}
{%- macro amocrm_kpi_refuse_broken_row_key(target, new_rows) -%}
    {%- set key = config.get('row_key') -%}
    {%- if not key -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set columns = key | join(', ') -%}
    {%- set unique_key = config.get('unique_key') -%}
    {%- set unique_key = [unique_key] if unique_key is string else (unique_key or []) -%}
    {%- set only_new_rows = new_rows is not none and config.get('incremental_strategy') == 'delete+insert'
                            and unique_key and unique_key | reject('in', key) | list | length == 0 -%}
    {% call statement('amocrm_kpi_broken_row_key', fetch_result=True) -%}
        with repeated as (
        {%- if new_rows is none or only_new_rows %}
            {{ duplicate_keys(target if new_rows is none else new_rows, key) }}
        {%- else %}
            select {{ columns }}, count(*) as occurrences
            from {{ target }}
            semi join (select distinct {{ columns }} from {{ new_rows }}) as new_rows using ({{ columns }})
            group by all
            having count(*) > 1
        {%- endif %}
        ),

        broken as (
            select 'repeated ' || occurrences || ' times' as problem,
                concat_ws(', ', {% for column in key %}coalesce(cast({{ column }} as varchar), 'null'){{ ', ' if not loop.last }}{% endfor %}) as key_value
            from repeated
            union all
            select 'null in ' || count(*) || ' rows' as problem, null as key_value
            from {{ target if new_rows is none else new_rows }}
            where {% for column in key %}{{ column }} is null{{ ' or ' if not loop.last }}{% endfor %}
            having count(*) > 0
        )

        select problem, key_value, count(*) over () as broken_keys
        from broken
        order by key_value nulls first
        limit 5
    {%- endcall %}
    {%- set broken = load_result('amocrm_kpi_broken_row_key').table -%}
    {%- if broken.rows | length > 0 -%}
        {%- set examples = [] -%}
        {%- for row in broken.rows -%}
            {%- do examples.append(('(' ~ row['key_value'] ~ ') ' if row['key_value'] is not none else '') ~ row['problem']) -%}
        {%- endfor -%}
        {{ exceptions.raise_compiler_error(
            this.schema ~ "." ~ this.identifier ~ ": this build's rows break the model's row_key (" ~ columns ~ "): " ~ broken.rows[0]['broken_keys']
            ~ " broken key(s), e.g. " ~ examples | join('; ') ~ ". Nothing was written: the model's transaction is "
            ~ "rolled back, so the table keeps the rows of its last good build and the models reading it are "
            ~ "skipped. Each key must be one row and never null: find the join or union in the model's SQL that "
            ~ "makes such rows (its compiled SQL is in the dbt target folder), fix it, and run again.") }}
    {%- endif -%}
{%- endmacro -%}
