-- Per live lead: its first outgoing touch at or after creation and how many touches it got in its
-- first 24 hours and 14 days (kpi-contract.md "Sales-management hygiene").

with leads as (
    select
        account_id,
        lead_id,
        pipeline_id,
        responsible_user_id as manager_id,
        created_at,
        created_date
    from {{ ref('stg_amocrm__leads') }}
    where not is_deleted
),

touches as (
    select account_id, lead_id, occurred_at from {{ ref('int_lead_touches') }}
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
        coalesce(
            (epoch(per_lead.first_response_at) - epoch(leads.created_at)) / 60.0
            <= {{ var('amocrm_response_sla_minutes') }},
            false
        ) as responded_within_sla,
        per_lead.first_response_at is not null
            or epoch_us(extraction.extracted_at) - epoch_us(leads.created_at)
            >= cast({{ var('amocrm_response_sla_minutes') }} as bigint) * 60000000 as is_sla_elapsed,
        epoch_us(extraction.extracted_at) - epoch_us(leads.created_at) >= 14 * 86400000000 as is_14d_elapsed,
        coalesce(per_lead.touches_24h, 0) as touches_24h,
        coalesce(per_lead.touches_14d, 0) as touches_14d
    from leads
    left join per_lead
        on per_lead.account_id = leads.account_id
        and per_lead.lead_id = leads.lead_id
    inner join extraction on extraction.account_id = leads.account_id
)

select * from final
