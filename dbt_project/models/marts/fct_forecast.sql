with extraction as (
    select
        account_id,
        extracted_at,
        extracted_date,
        cast(date_trunc('month', extracted_date) as date) as month_start,
        day(last_day(extracted_date)) as days_in_month,
        -- microseconds of the month elapsed (local time): an exact integer, not a float number of days
        epoch_us(timezone(timezone, extracted_at)) - epoch_us(cast(date_trunc('month', extracted_date) as timestamp))
            as elapsed_us
    from {{ ref('int_extraction') }}
),

leads as (
    select * from {{ ref('fct_leads') }}
    where not is_deleted
),

stages as (
    select account_id, pipeline_id, status_id, stage_order
    from {{ ref('int_pipeline_stages') }}
    where stage_order is not null
),

-- History for the win probabilities: leads closed (won or lost) in the trailing window before the
-- extraction. Open leads are left out: they would drag the rate down while they wait. Materialized, so
-- that the window is applied before the join with int_lead_stages_reached (DuckDB otherwise joined every
-- closed lead first: half the rows for nothing).
window_leads as materialized (
    select leads.account_id, leads.lead_id, leads.pipeline_id, leads.is_won
    from leads
    inner join extraction on extraction.account_id = leads.account_id
    -- whole 24-hour days: an interval of days would follow the session timezone's daylight saving
    where (leads.is_won or leads.is_lost)
        and leads.closed_at > extraction.extracted_at - to_seconds({{ var('amocrm_forecast_window_days') }} * 86400)
        and leads.closed_at <= extraction.extracted_at
),

window_reached as (
    select
        reached.account_id,
        reached.pipeline_id,
        reached.furthest_stage_order,
        window_leads.is_won and window_leads.pipeline_id = reached.pipeline_id as is_won_here
    from {{ ref('int_lead_stages_reached') }} as reached
    inner join window_leads
        on window_leads.account_id = reached.account_id
        and window_leads.lead_id = reached.lead_id
),

-- Of the window's leads, how many got furthest to each stage and how many of those were won there:
-- counted once per stage reached, so that the stages are matched to a few counts, not to every lead.
window_counts as (
    select
        account_id,
        pipeline_id,
        furthest_stage_order,
        count(*) filter (where is_won_here) as won,
        count(*) as closed
    from window_reached
    group by all
),

-- Win probability of a stage = won / closed: of the window's leads that reached it, the share won there.
-- Kept as the two counts, so the weighted value stays exact.
stage_probabilities as (
    select
        stages.account_id,
        stages.pipeline_id,
        stages.status_id,
        cast(coalesce(sum(window_counts.won), 0) as bigint) as won,
        cast(coalesce(sum(window_counts.closed), 0) as bigint) as closed
    from stages
    left join window_counts
        on window_counts.account_id = stages.account_id
        and window_counts.pipeline_id = stages.pipeline_id
        and window_counts.furthest_stage_order >= stages.stage_order
    group by all
),

open_deals as (
    select
        leads.account_id,
        leads.currency,
        leads.pipeline_id,
        leads.manager_id,
        count(*) as open_deals,
        sum(leads.price) as open_value,
        -- price x won / closed in 10^-12 of a cent, an integer (DuckDB would divide decimals as floats);
        -- rounded half up to cents once, below
        sum(
            case when stage_probabilities.closed > 0
                then cast(leads.price * 100 as hugeint) * stage_probabilities.won * 1000000000000
                    // stage_probabilities.closed
                else 0
            end
        ) as weighted_pico_cents
    from leads
    left join stage_probabilities
        on stage_probabilities.account_id = leads.account_id
        and stage_probabilities.pipeline_id = leads.pipeline_id
        and stage_probabilities.status_id = leads.status_id
    where not leads.is_won
        and not leads.is_lost
    group by all
),

month_to_date as (
    select
        leads.account_id,
        leads.currency,
        leads.pipeline_id,
        leads.manager_id,
        sum(leads.price) as month_to_date_revenue
    from leads
    inner join extraction on extraction.account_id = leads.account_id
    where leads.is_won
        and leads.closed_date >= extraction.month_start
        and leads.closed_at <= extraction.extracted_at
    group by all
),

final as (
    select
        cast(extraction.account_id as bigint) as account_id,
        cast(coalesce(open_deals.currency, month_to_date.currency) as varchar) as currency,
        cast(coalesce(open_deals.pipeline_id, month_to_date.pipeline_id) as bigint) as pipeline_id,
        cast(coalesce(open_deals.manager_id, month_to_date.manager_id) as bigint) as manager_id,
        cast(coalesce(open_deals.open_deals, 0) as bigint) as open_deals,
        cast(coalesce(open_deals.open_value, 0) as decimal(18, 2)) as open_value,
        cast(
            cast((coalesce(open_deals.weighted_pico_cents, 0) + 500000000000) // 1000000000000 as decimal(18, 0))
            * 0.01 as decimal(18, 2)
        ) as weighted_value,
        cast(coalesce(month_to_date.month_to_date_revenue, 0) as decimal(18, 2)) as month_to_date_revenue,
        -- month-to-date x days in month / days elapsed, in whole microseconds: one exact division
        {{ money_divide(
            'coalesce(month_to_date.month_to_date_revenue, 0) * extraction.days_in_month * 86400000000',
            'extraction.elapsed_us'
        ) }} as month_run_rate,
        extraction.month_start as forecast_month,
        extraction.extracted_at as as_of
    from open_deals
    full outer join month_to_date
        on month_to_date.account_id = open_deals.account_id
        and month_to_date.pipeline_id = open_deals.pipeline_id
        and month_to_date.manager_id = open_deals.manager_id
    inner join extraction on extraction.account_id = coalesce(open_deals.account_id, month_to_date.account_id)
)

select * from final
