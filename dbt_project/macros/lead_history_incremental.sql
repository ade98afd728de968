{#-
  How the tables derived lead by lead from int_lead_status_history (int_lead_stage_stays,
  int_lead_lost_at_stage) are built incrementally: a run deletes the rows of the leads the new dlt
  loads changed (pipeline_daily_changed_leads: their row, status changes, deletion or restore) in a
  pre-hook and appends those leads' rows recomputed, so the table equals a full rebuild while touching
  only the day's leads. The pre-hook deletes rather than delete+insert by key: a lead that no longer
  has any row (deleted, or no completed stay left) must lose its old ones. It reads the same loads as
  int_pipeline_daily_stays (pipeline_daily_upstream) and records them in int_processed_loads. The changed
  leads are found once per run, by the first pre-hook, into a temporary table (changed_leads_table below).
  The full-recompute reason is still asked three times (compile, pre-hook, post-hook: dbt renders them
  apart); it reads the ledger and, for the checks, one column of the model's table: about 0.05 CPU s.

  Every lead is recomputed (a full recompute, logged) when the model cannot trust its rows: an
  upstream model re-recorded a load after this model had recorded it (it was fully refreshed, so its
  rows may differ from those this model was built from), or `checks` finds a reason (a query
  returning one row of text per reason, e.g. the account timezone changed).
-#}

{#- The reason every lead must be recomputed in this incremental run, or '' (none). -#}
{% macro lead_history_full_recompute_reason(checks=none) -%}
    {{ return(first_full_recompute_reason([upstream_rebuilt_reason(pipeline_daily_upstream())]
                                          + ([checks] if checks else []))) }}
{%- endmacro %}

{#-
  The changed leads of an incremental run, computed once: the first pre-hook (create_changed_leads_table)
  writes them to a temporary table of this model's connection, the other hooks and the model read it, and
  the post-hook drops it. Besides the repeated query, a temporary table tells DuckDB how few they are:
  given the four-way union as a subquery, its planner guessed it large and hashed the three-to-four
  million rows of the other side instead (0.3-0.4 CPU s per statement at a million leads, against 0.06).
  The hooks run on the model's own connection and in its transaction, so the model sees the table.
-#}
{% macro changed_leads_table() -%}
    {{- return('temp.main.changed_leads__' ~ this.name) -}}
{%- endmacro %}

{#- Pre-hook (the first one): the leads the new loads changed (macros/pipeline_daily.sql). -#}
{% macro create_changed_leads_table() -%}
    {%- if is_incremental() -%}
    create or replace temporary table changed_leads__{{ this.name }} as
    {{ pipeline_daily_changed_leads(unprocessed_loads(upstream=pipeline_daily_upstream())) }}
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}

{#- Post-hook: the temporary table is not needed past the model. -#}
{% macro drop_changed_leads_table() -%}
    drop table if exists {{ changed_leads_table() }}
{%- endmacro %}

{#- The (account_id, lead_id) to recompute: the leads the new loads changed (the pre-hook's table). -#}
{% macro lead_history_changed_leads() -%}
    select account_id, lead_id from {{ changed_leads_table() }}
{%- endmacro %}

{#- The second pre-hook: delete the rows about to be recomputed (every row for a full recompute). -#}
{% macro lead_history_delete_changed(checks=none) -%}
    {%- if is_incremental() -%}
        {%- if lead_history_full_recompute_reason(checks) -%}
    delete from {{ this }}
        {%- else -%}
    delete from {{ this }} where (account_id, lead_id) in ({{ lead_history_changed_leads() }})
        {%- endif -%}
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}

{#-
  Reasons to recompute every lead when each row stores, in `column`, a per-account value it was derived
  with (`current`: a query of account_id and that value now): the value changed for an account, or the
  table was built before it stored it. `what` names the value in the log.
-#}
{% macro stored_per_account_checks(column, current, what) -%}
    {%- set stored_columns = get_columns_in_relation(this) | map(attribute='name') | map('lower') | list
        if execute and is_incremental() else [column] -%}
    {%- if column not in stored_columns -%}
    select 'it was built before it stored {{ what }}' as reason
    {%- else -%}
    select '{{ what }} of account ' || stored.account_id || ' changed' as reason
    from (select distinct account_id, {{ column }} as value from {{ this }}) as stored
    left join ({{ current }}) as now_derived (account_id, value) on now_derived.account_id = stored.account_id
    where now_derived.value is distinct from stored.value
    {%- endif -%}
{%- endmacro %}

{#- int_lead_stage_stays: its left_date is in the account timezone. -#}
{% macro stage_stays_checks() -%}
    {{ stored_per_account_checks('timezone', 'select account_id, timezone from ' ~ ref('stg_amocrm__account'),
                                 'the account timezone its dates are in') }}
{%- endmacro %}

{#- int_lead_stages_reached: its stage orders come from int_pipeline_stages (the account's stage paths). -#}
{% macro stage_path_of_account() -%}
    select account_id,
        string_agg(pipeline_id || ':' || status_id || ':' || stage_order, ',' order by pipeline_id, status_id)
            as stage_path
    from {{ ref('int_pipeline_stages') }}
    where stage_order is not null
    group by account_id
{%- endmacro %}

{% macro stages_reached_checks() -%}
    {{ stored_per_account_checks('stage_path', stage_path_of_account(), 'the stage order of its pipelines') }}
{%- endmacro %}
