with leads as (
    select lead_id, responsible_user_id, status_id, closed_at, closed_date, is_deleted, satisfaction_score
    from {{ ref('stg_amocrm__leads') }}
),

nps_ratings as (
    select
        'nps_event' as response_source,
        event_id as response_id,
        lead_id,
        created_at as responded_at,
        created_date as response_date,
        cast(nps_rate as decimal(18, 2)) as score
    from {{ ref('int_lead_events') }}
    where event_type = 'nps_rate_added'
        and nps_rate is not null
),

field_scores as (
    select
        'custom_field' as response_source,
        cast(lead_id as varchar) as response_id,
        lead_id,
        closed_at as responded_at,
        closed_date as response_date,
        satisfaction_score as score
    from leads
    where satisfaction_score is not null
        and status_id in (142, 143)
        and closed_at is not null
),

responses as (
    select * from nps_ratings
    union all
    select * from field_scores
),

final as (
    select
        responses.response_source,
        responses.response_id,
        responses.lead_id,
        leads.responsible_user_id as manager_id,
        responses.responded_at,
        responses.response_date,
        responses.score,
        responses.score >= 9 as is_promoter,
        responses.score <= 6 as is_detractor
    from responses
    inner join leads on leads.lead_id = responses.lead_id
    where not leads.is_deleted
        and responses.score between 0 and 10
)

select * from final
