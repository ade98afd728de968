{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        pre_hook=["{{ create_changed_leads_table() }}", "{{ lead_history_delete_changed() }}"],
        post_hook=["{{ record_processed_loads(upstream=pipeline_daily_upstream(), rebuilt=lead_history_full_recompute_reason() != '') }}", "{{ drop_changed_leads_table() }}"]
    )
}}

-- Incremental by lead (macros/lead_history_incremental.sql): a run recomputes the leads the new loads
-- changed, from their whole status history.

-- depends_on: {{ ref('int_processed_loads') }}
-- depends_on: {{ ref('stg_amocrm__leads') }}
-- depends_on: {{ ref('stg_amocrm__events') }}
-- depends_on: {{ source('raw_amocrm', 'deletions') }}
{%- set full_reason = lead_history_full_recompute_reason() %}
{{- log_full_recompute(full_reason) }}

with history as (
    select account_id, lead_id, stay_number, pipeline_id, status_id, is_current
    from {{ ref('int_lead_status_history') }}
    {%- if is_incremental() and not full_reason %}
    where (account_id, lead_id) in ({{ lead_history_changed_leads() }})
    {%- endif %}
),

-- Per lead: whether its current stay is in 143 (lost), and its last stay in an active status (neither won
-- nor lost), the greatest (stay_number, pipeline_id, status_id): the current stay is the last one, so
-- every active stay of a lost lead came before its final move to 143. One scan and one aggregate (a
-- self-join of the history on the current losses cost twice as much, and five times as much on a
-- day's changed leads).
per_lead as (
    select
        account_id,
        lead_id,
        bool_or(is_current and status_id = 143) as is_lost_now,
        max({'stay_number': stay_number, 'pipeline_id': pipeline_id, 'status_id': status_id})
            filter (where status_id not in (142, 143)) as last_stay
    from history
    group by account_id, lead_id
),

final as (
    select
        account_id,
        lead_id,
        last_stay.pipeline_id as lost_at_pipeline_id,
        last_stay.status_id as lost_at_status_id,
        last_stay.stay_number as lost_at_stay_number
    from per_lead
    where is_lost_now
        and last_stay is not null
)

select * from final
