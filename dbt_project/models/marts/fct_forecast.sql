with extraction as (
    select
        extracted_at,
        extracted_date,
        cast(date_trunc('month', extracted_date) as date) as month_start,
        day(last_day(extracted_date)) as days_in_month,
        (epoch(timezone(timezone, extracted_at)) - epoch(cast(date_trunc('month', extracted_date) as timestamp))) / 86400.0
            as days_elapsed
    from {{ ref('int_extraction') }}
),

leads as (
    select * from {{ ref('fct_leads') }}
    where not is_deleted
),

stages as (
    select pipeline_id, status_id, stage_order
    from {{ ref('int_pipeline_stages') }}
    where stage_order is not null
),

-- History for the win probabilities: leads created in the trailing window before the extraction.
window_leads as (
    select leads.lead_id, leads.pipeline_id, leads.is_won
    from leads
    cross join extraction
    -- whole 24-hour days: an interval of days would follow the session timezone's daylight saving
    where leads.created_at > extraction.extracted_at - to_seconds({{ var('amocrm_forecast_window_days') }} * 86400)
        and leads.created_at <= extraction.extracted_at
),

window_reached as (
    select
        reached.pipeline_id,
        reached.furthest_stage_order,
        window_leads.is_won and window_leads.pipeline_id = reached.pipeline_id as is_won_here
    from {{ ref('int_lead_stages_reached') }} as reached
    inner join window_leads on window_leads.lead_id = reached.lead_id
),

-- Win probability of a stage: of the window's leads that reached it, the share now won there.
stage_probabilities as (
    select
        stages.pipeline_id,
        stages.status_id,
        {{ safe_divide(
            'count(*) filter (where window_reached.is_won_here)',
            'count(window_reached.pipeline_id)'
        ) }} as win_probability
    from stages
    left join window_reached
        on window_reached.pipeline_id = stages.pipeline_id
        and window_reached.furthest_stage_order >= stages.stage_order
    group by all
),

open_deals as (
    select
        leads.pipeline_id,
        leads.manager_id,
        count(*) as open_deals,
        sum(leads.price) as open_value,
        sum(leads.price * coalesce(stage_probabilities.win_probability, 0)) as weighted_value
    from leads
    left join stage_probabilities
        on stage_probabilities.pipeline_id = leads.pipeline_id
        and stage_probabilities.status_id = leads.status_id
    where not leads.is_won
        and not leads.is_lost
    group by all
),

month_to_date as (
    select
        leads.pipeline_id,
        leads.manager_id,
        sum(leads.price) as month_to_date_revenue
    from leads
    cross join extraction
    where leads.is_won
        and leads.closed_date >= extraction.month_start
        and leads.closed_at <= extraction.extracted_at
    group by all
),

final as (
    select
        cast(coalesce(open_deals.pipeline_id, month_to_date.pipeline_id) as bigint) as pipeline_id,
        cast(coalesce(open_deals.manager_id, month_to_date.manager_id) as bigint) as manager_id,
        cast(coalesce(open_deals.open_deals, 0) as bigint) as open_deals,
        cast(coalesce(open_deals.open_value, 0) as decimal(18, 2)) as open_value,
        cast(coalesce(open_deals.weighted_value, 0) as decimal(18, 2)) as weighted_value,
        cast(coalesce(month_to_date.month_to_date_revenue, 0) as decimal(18, 2)) as month_to_date_revenue,
        cast(
            {{ safe_divide(
                'coalesce(month_to_date.month_to_date_revenue, 0) * extraction.days_in_month',
                'extraction.days_elapsed'
            ) }} as decimal(18, 2)
        ) as month_run_rate,
        extraction.month_start as forecast_month,
        extraction.extracted_at as as_of
    from open_deals
    full outer join month_to_date
        on month_to_date.pipeline_id = open_deals.pipeline_id
        and month_to_date.manager_id = open_deals.manager_id
    cross join extraction
)

select * from final
