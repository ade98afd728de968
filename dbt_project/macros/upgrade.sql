{#-
  One-time upgrade of a warehouse built before every model carried account_id (on-run-start). The
  incremental models keep their rows between builds and refuse a schema change (on_schema_change
  'fail'), so without this the first build after the upgrade would stop on them:
  - the incremental models (stg_amocrm__leads, the intermediate ones, fct_pipeline_daily) are dropped, with their entries in the
    ledger int_processed_loads, so this build re-reads every load into them (they are derived from
    the raw tables alone);
  - fct_crm_hygiene's daily snapshots cannot be rebuilt: its rows get the column, filled with the id of
    the account the warehouse held, which is the only one a warehouse of that version could hold.
  Each step is logged. Nothing happens once the tables have the column.
-#}
{% macro upgrade_keys_to_accounts() -%}
    {%- if execute -%}
        {%- set rebuilt = [('staging', 'stg_amocrm__leads'), ('intermediate', 'int_lead_events'),
                           ('intermediate', 'int_activities'), ('intermediate', 'int_lead_status_history'),
                           ('intermediate', 'int_activity_attribution'),
                           ('marts', 'fct_pipeline_daily')] -%}
        {#- one catalog query at every dbt start (was a DESCRIBE per table): which of them lack the column -#}
        {%- set lacking = run_query(_tables_without_account_id(rebuilt + [('marts', 'fct_crm_hygiene')])) -%}
        {%- set lacking = lacking.rows | map('join', '.') | list -%}
        {%- set ledger = adapter.get_relation(database=target.database, schema='intermediate',
                                              identifier='int_processed_loads') if lacking else none -%}
        {%- for schema, name in rebuilt if (schema ~ '.' ~ name) in lacking -%}
            {%- set relation = adapter.get_relation(database=target.database, schema=schema, identifier=name) -%}
            {%- do log("Upgrading to account_id keys: " ~ relation ~ " is rebuilt from every load.", info=true) -%}
            {%- do run_query("drop table " ~ relation) -%}
            {%- do adapter.cache_dropped(relation) -%}
            {%- if ledger is not none -%}
                {%- do run_query("delete from " ~ ledger ~ " where model_name = '" ~ name ~ "'") -%}
            {%- endif -%}
        {%- endfor -%}
        {%- if 'marts.fct_crm_hygiene' in lacking -%}
            {%- set hygiene = adapter.get_relation(database=target.database, schema='marts', identifier='fct_crm_hygiene') -%}
            {%- set accounts = run_query("select distinct cast(id as bigint) from " ~ source('raw_amocrm', 'account')).columns[0].values() -%}
            {%- if accounts | length != 1 -%}
                {{ exceptions.raise_compiler_error(
                    "marts.fct_crm_hygiene was built before tables carried account_id, and the warehouse now "
                    ~ "holds " ~ (accounts | length) ~ " accounts, so which account its past daily snapshots "
                    ~ "belong to is unknown. Build once with only the original account loaded, or drop "
                    ~ "marts.fct_crm_hygiene to give up its history.") }}
            {%- endif -%}
            {%- do log("Upgrading to account_id keys: the rows of " ~ hygiene ~ " are account " ~ accounts[0] ~ "'s.", info=true) -%}
            {%- do run_query("alter table " ~ hygiene ~ " add column account_id bigint") -%}
            {%- do run_query("update " ~ hygiene ~ " set account_id = " ~ accounts[0]) -%}
        {%- endif -%}
        {#- the model threads read through other connections: they must see the upgrade -#}
        {%- do adapter.commit() -%}
    {%- endif -%}
{%- endmacro %}

{#- The (schema, name) of the `tables` (a list of (schema, name)) that exist and have no account_id column. -#}
{% macro _tables_without_account_id(tables) -%}
    select tables.table_schema, tables.table_name
    from information_schema.tables as tables
    where tables.table_catalog = '{{ target.database }}'
        and (tables.table_schema, tables.table_name) in (
            {%- for schema, name in tables %}('{{ schema }}', '{{ name }}'){{ ', ' if not loop.last }}{% endfor -%}
        )
        and not exists (
            select 1
            from information_schema.columns as columns
            where columns.table_catalog = tables.table_catalog
                and columns.table_schema = tables.table_schema
                and columns.table_name = tables.table_name
                and lower(columns.column_name) = 'account_id'
        )
    order by 1, 2
{%- endmacro %}
