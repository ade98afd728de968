{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        pre_hook=[
            "{{ create_changed_leads_table() }}",
            "{% if is_incremental() %}delete from {{ this }} where is_new and (account_id, lead_id) in ({{ lead_history_changed_leads() }}){% endif %}",
            "{% if is_incremental() %}update {{ this }} set is_superseded = true where not is_superseded and (account_id, lead_id) in ({{ lead_history_changed_leads() }}){% endif %}"
        ],
        post_hook=["{{ record_processed_loads(upstream=pipeline_daily_upstream()) }}", "{{ drop_changed_leads_table() }}"]
    )
}}

-- Every stay in an active status (not 142/143) with what fct_pipeline_daily counts of its lead: its
-- current manager and price, and whether it is deleted; keyed by (account_id, lead_id), dates in the
-- account's own timezone. Incremental by lead: a run appends the stays
-- of the leads the new dlt loads changed (macros/pipeline_daily.sql) as new rows, and its pre-hooks mark
-- the rows of those leads that fct_pipeline_daily has counted superseded rather than deleting them
-- (rows it has not counted yet, is_new, are simply replaced): fct_pipeline_daily subtracts the superseded
-- rows and adds the new ones, then drops the first and clears is_new (its post-hook). So between builds
-- the table equals a full rebuild.

-- depends_on: {{ ref('int_processed_loads') }}
-- depends_on: {{ ref('stg_amocrm__leads') }}
-- depends_on: {{ ref('stg_amocrm__events') }}
-- depends_on: {{ source('raw_amocrm', 'deletions') }}

with calendar as (
    select account_id, timezone from {{ ref('int_pipeline_calendar') }}
),

leads as (
    select account_id, lead_id, manager_id, price, is_deleted
    from {{ ref('fct_leads') }}
),

history as (
    select account_id, lead_id, pipeline_id, status_id, entered_at, left_at
    from {{ ref('int_lead_status_history') }}
    where status_id not in (142, 143)
    {%- if is_incremental() %}
        and (account_id, lead_id) in ({{ lead_history_changed_leads() }})
    {%- endif %}
),

final as (
    select
        history.account_id,
        history.lead_id,
        history.pipeline_id,
        history.status_id,
        history.entered_at,
        history.left_at,
        {{ local_date('history.entered_at', 'calendar.timezone') }} as entered_date,
        {{ local_date('history.left_at', 'calendar.timezone') }} as left_date,
        leads.manager_id,
        leads.price,
        coalesce(leads.is_deleted, true) as is_deleted,
        true as is_new,
        false as is_superseded
    from history
    inner join calendar on calendar.account_id = history.account_id
    left join leads
        on leads.account_id = history.account_id
        and leads.lead_id = history.lead_id
)

select * from final
