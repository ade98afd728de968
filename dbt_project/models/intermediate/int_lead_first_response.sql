{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        pre_hook=["{{ create_first_response_changed_leads() }}", "{{ first_response_delete_changed() }}"],
        post_hook=[
            "{{ record_processed_loads(upstream=first_response_upstream(), rebuilt=first_response_full_recompute_reason() != '') }}",
            "{{ forget_read_touch_removals() }}",
            "{{ drop_changed_leads_table() }}"
        ]
    )
}}

-- Per live lead: its first outgoing touch at or after creation and how many touches it got in its
-- first 24 hours and 14 days (kpi-contract.md "Sales-management hygiene").
-- Incremental (macros/lead_first_response_incremental.sql): a run recomputes the leads whose row, touches
-- or flags changed since its last build; the YAML says why.

-- depends_on: {{ ref('int_processed_loads') }}
-- depends_on: {{ ref('int_lead_touch_removals') }}
-- depends_on: {{ ref('int_activity_attribution') }}
-- depends_on: {{ ref('stg_amocrm__events') }}
-- depends_on: {{ ref('stg_amocrm__lead_contacts') }}
-- depends_on: {{ source('raw_amocrm', 'deletions') }}
{%- set full_reason = first_response_full_recompute_reason() %}
{{- log_full_recompute(full_reason) }}
{%- set incremental = is_incremental() and not full_reason %}

with leads as (
    select
        account_id,
        lead_id,
        pipeline_id,
        responsible_user_id as manager_id,
        created_at,
        created_date
    from {{ ref('stg_amocrm__leads') }}
    {%- if incremental %}
    semi join {{ changed_leads_table() }} as changed using (account_id, lead_id)
    {%- endif %}
    where not is_deleted
),

touches as (
    select account_id, lead_id, occurred_at from {{ ref('int_lead_touches') }}
    {%- if incremental %}
    semi join {{ changed_leads_table() }} as changed using (account_id, lead_id)
    {%- endif %}
),

extraction as (
    select account_id, extracted_at from {{ ref('int_extraction') }}
),

-- Durations compare microseconds since the epoch (86400000000 = one day): adding an interval to a
-- timestamp with time zone goes through the session's calendar (slow, and a "day" would follow its
-- daylight-saving shifts).
-- The touches are joined to their lead first, so only leads with a touch are grouped.
per_lead as (
    select
        touches.account_id,
        touches.lead_id,
        min(touches.occurred_at) as first_response_at,
        count(*) filter (
            where epoch_us(touches.occurred_at) - epoch_us(leads.created_at) < 86400000000
        ) as touches_24h,
        count(*) filter (
            where epoch_us(touches.occurred_at) - epoch_us(leads.created_at) < 14 * 86400000000
        ) as touches_14d
    from touches
    inner join leads
        on leads.account_id = touches.account_id
        and leads.lead_id = touches.lead_id
        and touches.occurred_at >= leads.created_at
    group by touches.account_id, touches.lead_id
),

final as (
    select
        leads.account_id,
        leads.lead_id,
        leads.pipeline_id,
        leads.manager_id,
        leads.created_at,
        leads.created_date,
        per_lead.first_response_at,
        (epoch(per_lead.first_response_at) - epoch(leads.created_at)) / 60.0 as first_response_minutes,
        {{ first_response_sla_flag('per_lead.first_response_at', 'leads.created_at') }} as responded_within_sla,
        {{ first_response_sla_elapsed('per_lead.first_response_at', 'leads.created_at', 'extraction.extracted_at') }}
            as is_sla_elapsed,
        {{ first_response_14d_elapsed('leads.created_at', 'extraction.extracted_at') }} as is_14d_elapsed,
        coalesce(per_lead.touches_24h, 0) as touches_24h,
        coalesce(per_lead.touches_14d, 0) as touches_14d
    from leads
    left join per_lead
        on per_lead.account_id = leads.account_id
        and per_lead.lead_id = leads.lead_id
    inner join extraction on extraction.account_id = leads.account_id
)

select * from final
