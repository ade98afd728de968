{#-
  How fct_pipeline_daily's incremental run does little work. A lead's current price and manager stand
  for all its past days, so a change to a lead rewrites its share of every past day: the run subtracts
  what the lead's superseded stays in int_pipeline_daily_stays added to each (account, day, stage,
  manager) row and adds what its new stays add. That holds while the day's "stuck" line (taken over the
  stays left in the 180 days before it) is the same as when the row was built; the (account, stage, day)
  cells whose line a gained or lost completed stay moved are recomputed in full instead
  (pipeline_daily_moved_lines), as are every day from the last day built on (built part-way through, as
  of an extraction). Leads are keyed by (account_id, lead_id): ids of two amoCRM accounts may collide.
-#}

{#- The models whose loads int_pipeline_daily_stays reads (and so the changed leads it takes in). -#}
{% macro pipeline_daily_upstream() -%}
    {{ return(['int_lead_status_history', 'stg_amocrm__leads']) }}
{%- endmacro %}

{#-
  (account_id, lead_id) of the leads (deleted ones too) whose row, deletion or restore came in the loads
  `new_loads` (a deletion, restore or merge event or a trash row names them: deletions.py applies them
  to the raw rows in place, keeping the load id), or that an id reconciliation marked gone (no dlt load of
  its own) when `gone_since` (a condition on its run_at epoch seconds, e.g. "> 1700000000") holds; the id
  in every account (more leads redone than needed, never fewer). Shared by the by-lead incremental models.
-#}
{% macro leads_changed_by_loads(new_loads, gone_since) -%}
    select account_id, lead_id from {{ ref('stg_amocrm__leads') }} where load_id in {{ new_loads }}
    union
    select account_id, entity_id from {{ ref('stg_amocrm__events') }}
    where entity_type = 'lead'
        and event_type in ('lead_deleted', 'lead_restored', 'entity_merged')
        and load_id in {{ new_loads }}
    union
    select cast(account_id as bigint), cast(id as bigint) from {{ source('raw_amocrm', 'deletions') }}
    where entity_type = 'lead' and _dlt_load_id in {{ new_loads }}
    {%- set loads = source('raw_amocrm', '_dlt_loads') -%}
    {%- set disappearances = adapter.get_relation(database=loads.database, schema=loads.schema,
                                                  identifier='disappearances') -%}
    {%- if disappearances is not none %}
    union
    select leads.account_id, disappeared.id
    from {{ disappearances }} as disappeared
    inner join {{ ref('stg_amocrm__leads') }} as leads on leads.lead_id = disappeared.id
    where disappeared.entity_type = 'lead'
        and disappeared.run_at {{ gone_since }}
    {%- endif %}
{%- endmacro %}

{#-
  The leads int_pipeline_daily_stays and the by-lead history models recompute: those the loads changed
  (leads_changed_by_loads), their status changes too, marked gone since the newest load the model
  (`this`) has read.
-#}
{% macro pipeline_daily_changed_leads(new_loads) -%}
    {%- set loads = source('raw_amocrm', '_dlt_loads') -%}
    {%- set newest_load_read -%}
        > (
            select coalesce(max(epoch(loads.inserted_at)), 0)
            from {{ loads }} as loads
            inner join {{ ref('int_processed_loads') }} as processed
                on processed.load_id = loads.load_id and processed.model_name = '{{ this.name }}'
        )
    {%- endset %}
    {{ leads_changed_by_loads(new_loads, newest_load_read) }}
    union
    select account_id, lead_id from {{ ref('int_lead_status_history') }} where load_id in {{ new_loads }}
{%- endmacro %}

{#-
  The first day fct_pipeline_daily's incremental run recomputes in full, one for every account: the
  earliest, over the accounts, of the account's last day already built; or of its first day when the
  table holds none of its rows, or when int_pipeline_daily_stays holds nothing of it that was counted
  (rebuilt in full, or an account new to the warehouse: no superseded version to subtract). The model
  never starts an account before its own first day (greatest with int_pipeline_calendar.first_day).
  Days before the first built one need nothing more: only a changed (new) lead can be open on them.
  Resolved once while the model is compiled, into a date constant that the model and its pre-hook
  share; the tables are unchanged between the two.
-#}
{% macro pipeline_daily_from_date() -%}
    {%- if execute and is_incremental() -%}
        {%- set query -%}
            select cast(min(coalesce(case when counted.account_id is not null then built.last_built end,
                                     calendar.first_day)) as varchar) as from_date
            from {{ ref('int_pipeline_calendar') }} as calendar
            left join (
                select account_id, max(snapshot_date) as last_built from {{ this }} group by account_id
            ) as built on built.account_id = calendar.account_id
            left join (
                select distinct account_id from {{ ref('int_pipeline_daily_stays') }} where not is_new
            ) as counted on counted.account_id = calendar.account_id
        {%- endset -%}
        {%- set from_date = run_query(query).columns[0].values()[0] -%}
        {%- if from_date is none -%}
            (select min(first_day) from {{ ref('int_pipeline_calendar') }})
        {%- else -%}
            date '{{ from_date }}'
        {%- endif -%}
    {%- else -%}
        (select min(first_day) from {{ ref('int_pipeline_calendar') }})
    {%- endif -%}
{%- endmacro %}

{#-
  The (account_id, pipeline_id, status_id, snapshot_date) cells before `from_date` whose stuck line may
  have moved: the 180 days from the day each completed stay of a lead not deleted was left, for the
  stays found among the superseded rows or among the new ones but not both (gained or lost). None in a
  full build.
-#}
{% macro pipeline_daily_moved_lines(from_date) -%}
    {%- if is_incremental() -%}
    select distinct
        moved.account_id,
        moved.pipeline_id,
        moved.status_id,
        cast(unnest(generate_series(greatest(moved.left_date, calendar.first_day),
                                    least(moved.left_date + 179, {{ from_date }} - 1),
                                    interval 1 day)) as date) as snapshot_date
    from (
        select account_id, pipeline_id, status_id, left_date
        from ({{ pipeline_daily_changed_stays('left_at is not null and not is_deleted') }}) as changed
        group by account_id, lead_id, pipeline_id, status_id, entered_at, left_at, left_date
        having count(*) filter (where is_superseded) = 0 or count(*) filter (where not is_superseded) = 0
    ) as moved
    inner join {{ ref('int_pipeline_calendar') }} as calendar on calendar.account_id = moved.account_id
    where greatest(moved.left_date, calendar.first_day) < {{ from_date }}
    {%- else -%}
    select cast(null as bigint) as account_id, cast(null as bigint) as pipeline_id,
        cast(null as bigint) as status_id, cast(null as date) as snapshot_date
    where false
    {%- endif -%}
{%- endmacro %}

{#-
  The rows of int_pipeline_daily_stays a changed lead superseded or added (is_superseded or is_new) that
  also meet `condition`, as two scans of one flag each: DuckDB pushes a one-column filter into the scan
  and reads the other columns only for the few matching rows, while `is_superseded or is_new` is
  checked after every column of all three million rows was read.
-#}
{% macro pipeline_daily_changed_stays(condition) -%}
    select * from {{ ref('int_pipeline_daily_stays') }} where is_superseded and {{ condition }}
    union all
    select * from {{ ref('int_pipeline_daily_stays') }} where is_new and not is_superseded and {{ condition }}
{%- endmacro %}

{#-
  A custom incremental strategy (`incremental_strategy='replace_rows'`): delete the target's rows whose
  `unique_key` columns equal a new row's, nulls equal (delete+insert's `=` never matches a null
  manager_id), then insert the new rows.
-#}
{% macro get_incremental_replace_rows_sql(arg_dict) -%}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set temp = arg_dict['temp_relation'] -%}
    {%- set keys = arg_dict['unique_key'] -%}
    {%- set columns = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
    delete from {{ target }} as target
    where exists (
        select 1 from {{ temp }} as source
        where {% for key in keys %}source.{{ key }} is not distinct from target.{{ key }}{{ ' and ' if not loop.last }}{% endfor %}
    );
    insert into {{ target }} ({{ columns }}) select {{ columns }} from {{ temp }}
{%- endmacro %}
