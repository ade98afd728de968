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

per_lead as (
    select
        leads.account_id,
        leads.lead_id,
        min(touches.occurred_at) as first_response_at,
        count(touches.occurred_at) filter (
            where touches.occurred_at < leads.created_at + interval 24 hour
        ) as touches_24h,
        count(touches.occurred_at) filter (
            where touches.occurred_at < leads.created_at + interval 14 day
        ) as touches_14d
    from leads
    left join touches
        on touches.account_id = leads.account_id
        and touches.lead_id = leads.lead_id
        and touches.occurred_at >= leads.created_at
    group by leads.account_id, leads.lead_id
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
            or leads.created_at + to_minutes(cast({{ var('amocrm_response_sla_minutes') }} as bigint))
            <= extraction.extracted_at as is_sla_elapsed,
        leads.created_at + interval 14 day <= extraction.extracted_at as is_14d_elapsed,
        per_lead.touches_24h,
        per_lead.touches_14d
    from leads
    inner join per_lead
        on per_lead.account_id = leads.account_id
        and per_lead.lead_id = leads.lead_id
    inner join extraction on extraction.account_id = leads.account_id
)

select * from final
