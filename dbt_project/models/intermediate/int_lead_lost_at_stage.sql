{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        pre_hook="{{ lead_history_delete_changed() }}",
        post_hook="{{ record_processed_loads(upstream=pipeline_daily_upstream(), rebuilt=lead_history_full_recompute_reason() != '') }}"
    )
}}

-- Incremental by lead (macros/lead_history_incremental.sql): a run recomputes the leads the new loads
-- changed, from their whole status history.

-- depends_on: {{ ref('int_processed_loads') }}
-- depends_on: {{ ref('stg_amocrm__leads') }}
-- depends_on: {{ ref('stg_amocrm__events') }}
-- depends_on: {{ source('raw_amocrm', 'deletions') }}
{%- set full_reason = lead_history_full_recompute_reason() %}
{{- log_lead_history_full_recompute(full_reason) }}

with history as (
    select * from {{ ref('int_lead_status_history') }}
    {%- if is_incremental() and not full_reason %}
    where (account_id, lead_id) in ({{ lead_history_changed_leads() }})
    {%- endif %}
),

current_losses as (
    select account_id, lead_id, stay_number
    from history
    where is_current
        and status_id = 143
),

-- The last stay in an active status (neither won nor lost) before the lead moved to 143 for good: the
-- greatest (stay_number, pipeline_id, status_id) struct, one aggregate (three arg_max cost twice as much).
last_active as (
    select
        history.account_id,
        history.lead_id,
        max({'stay_number': history.stay_number, 'pipeline_id': history.pipeline_id, 'status_id': history.status_id})
            as last_stay
    from history
    inner join current_losses
        on current_losses.account_id = history.account_id
        and current_losses.lead_id = history.lead_id
        and history.stay_number < current_losses.stay_number
    where history.status_id not in (142, 143)
    group by history.account_id, history.lead_id
),

final as (
    select
        account_id,
        lead_id,
        last_stay.pipeline_id as lost_at_pipeline_id,
        last_stay.status_id as lost_at_status_id,
        last_stay.stay_number as lost_at_stay_number
    from last_active
)

select * from final
