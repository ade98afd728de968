{#-
  How a table whose daily cost is writing it, not selecting it (fct_leads), is kept incremental: a run
  computes the model's whole select (cheap: a fraction of a second on 1M leads) and writes only the rows
  the stored table does not already hold exactly, merged on the model's key (incremental_strategy
  'merge': changed rows updated in place, new ones inserted); a pre-hook deletes the stored rows whose
  key the select no longer has. A row is compared by a 64-bit hash of every column, stored side and new
  side alike, so the table equals a full rebuild whatever changed - an input row, a lookup (a user's
  group, a renamed loss reason, a customer's first won deal), the account's currency, or the model's
  own SQL - with no record of what changed to trust, and nothing lost by a failed build in between (the
  next run compares again). A 64-bit hash collision between a stored row and its changed value would
  keep the old row (odds ~2^-64 per changed row, as raw_row_hash in stg_amocrm__leads).
  Merge rather than delete+insert: DuckDB's checkpoint rewrites every row group that has deleted rows
  (its vacuum), and a day's changed leads are spread over all of them.
  CPU on 1M leads, a simulated day (10,700 rows written), checkpoint included: about 2.3 s (comparison
  1.2, vanished keys 0.15, merge and its checkpoint 0.9) instead of 3.1-3.8 for rewriting the table;
  2.6 with delete+insert. Not worth it for a smaller table: int_customer_first_won (250k rows) costs
  0.37 CPU s rebuilt, and the comparison alone costs as much.
-#}

{#- A hash of every column of `columns` of `alias`, in that order. -#}
{% macro changed_rows_hash(alias, columns) -%}
    hash({% for column in columns %}{{ alias }}.{{ adapter.quote(column) }}{{ ', ' if not loop.last }}{% endfor %})
{%- endmacro %}

{#-
  Why every stored row must be rewritten in this incremental run, or '' (none): the stored table's
  columns are not the model's (those its YAML documents), e.g. a table built by an older version, so
  its rows cannot be compared. The pre-hook then deletes every row and drops the columns the model no
  longer has, and on_schema_change='append_new_columns' adds its new ones before the rows are inserted
  (at the end: a full refresh restores the model's column order).
-#}
{% macro changed_rows_rewrite_reason() -%}
    {%- if not (execute and is_incremental()) -%}
        {{ return('') }}
    {%- endif -%}
    {%- set stored = get_columns_in_relation(this) | map(attribute='name') | map('lower') | sort | list -%}
    {%- set declared = model.columns.keys() | map('lower') | sort | list -%}
    {%- if stored != declared -%}
        {{ return('its stored columns (' ~ stored | join(', ') ~ ') are not those of the model ('
                  ~ declared | join(', ') ~ ')') }}
    {%- endif -%}
    {{ return('') }}
{%- endmacro %}

{#-
  The rows of `relation` (a CTE name of the whole select) to write: on an incremental run, those whose
  key the stored table lacks or holds with other values; on a full build (or a logged rewrite of every
  row), every row. `key`: the unique key (a list of column names, as the model's unique_key).
-#}
{% macro changed_rows(relation, key) -%}
    {%- set rewrite_reason = changed_rows_rewrite_reason() -%}
    {%- if execute and is_incremental() and not rewrite_reason -%}
        {%- set columns = model.columns.keys() | map('lower') | list -%}
    select new_rows.* exclude (changed_rows_hash)
    from (
        select {{ relation }}.*, {{ changed_rows_hash(relation, columns) }} as changed_rows_hash
        from {{ relation }}
    ) as new_rows
    anti join (
        select {{ key | join(', ') }}, {{ changed_rows_hash('stored', columns) }} as changed_rows_hash
        from {{ this }} as stored
    ) as stored
        on {% for column in key %}stored.{{ column }} = new_rows.{{ column }} and {% endfor -%}
        stored.changed_rows_hash = new_rows.changed_rows_hash
    {%- else %}
        {%- if rewrite_reason %}
            {{- log(this ~ ": rewriting every row (as costly as a full rebuild) because " ~ rewrite_reason ~ ".",
                    info=true) }}
        {%- endif %}
    select * from {{ relation }}
    {%- endif -%}
{%- endmacro %}

{#-
  The pre-hook: delete the stored rows whose key is no longer among `current_keys` (a query of the key
  columns, in `key`'s order): the merge rewrites the changed keys but cannot remove a vanished one.
  Every row when they are all rewritten.
-#}
{% macro delete_vanished_keys(key, current_keys) -%}
    {%- if is_incremental() and changed_rows_rewrite_reason() -%}
        {%- set declared = model.columns.keys() | map('lower') | list -%}
    delete from {{ this }};
        {%- for column in get_columns_in_relation(this) | map(attribute='name') | list
            if column | lower not in declared %}
    alter table {{ this }} drop column {{ adapter.quote(column) }};
        {%- endfor %}
    {%- elif is_incremental() -%}
    delete from {{ this }} as stored
    where not exists (
        select 1
        from ({{ current_keys }}) as current_keys ({{ key | join(', ') }})
        where {% for column in key %}current_keys.{{ column }} = stored.{{ column }}{{ ' and ' if not loop.last }}{% endfor %}
    )
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}

{#- fct_leads has a row per lead of a loaded account. -#}
{% macro fct_leads_keys() -%}
    select leads.account_id, leads.lead_id
    from {{ ref('stg_amocrm__leads') }} as leads
    semi join {{ ref('stg_amocrm__account') }} as account on account.account_id = leads.account_id
{%- endmacro %}

{#-
  The post-hook: say in the dbt log how many rows this incremental run wrote (the temporary table
  the merge took them from, still there inside the model's transaction) and how many the table holds,
  so a run's cost in proportion to the day's change can be seen. Nothing on a full build (no such table).
-#}
{% macro log_changed_rows() -%}
    {%- if execute -%}
        {#- dbt-duckdb names it <model>__dbt_tmp<time>, a temporary table of this thread's connection -#}
        {%- set temps = run_query("select table_name from duckdb_tables() where temporary and table_name like '"
                                  ~ this.identifier ~ "\\_\\_dbt\\_tmp%' escape '\\' order by table_name desc limit 1")
                                  .columns[0].values() -%}
        {%- if temps | length > 0 -%}
            {%- set counts = run_query('select (select count(*) from temp.main."' ~ temps[0] ~ '"), (select count(*) from '
                                       ~ this ~ ')').rows[0] -%}
            {%- do log(this.schema ~ "." ~ this.identifier ~ ": wrote " ~ counts[0] ~ " new or changed rows of "
                       ~ counts[1], info=true) -%}
        {%- endif -%}
    {%- endif -%}
    select 1
{%- endmacro %}
