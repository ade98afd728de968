-- Not materialized: read four times below (each side of lead_days, twice), DuckDB would otherwise write
-- out every column of the million leads once; each reader scanning the few columns it needs of fct_leads
-- costs a third of that (0.15-0.25 CPU s against 0.47 at a million leads).
with leads as not materialized (
    select * from {{ ref('fct_leads') }}
    where not is_deleted
),

-- Each lead contributes on the day it was created (and to its cohort) and, once closed,
-- on the day it was closed; both in the account timezone. Not materialized: its two readers
-- below filter and sum it as it streams (writing its two million rows out cost more than reading
-- the leads twice).
lead_days as not materialized (
    select
        account_id,
        currency,
        created_date as local_day,
        pipeline_id,
        manager_id,
        1 as leads_created,
        case when is_won then 1 else 0 end as cohort_won,
        0 as deals_won,
        0 as deals_lost,
        0 as revenue_won,
        cast(null as double) as sales_cycle_days
    from leads

    union all

    select
        account_id,
        currency,
        closed_date as local_day,
        pipeline_id,
        manager_id,
        0 as leads_created,
        0 as cohort_won,
        case when is_won then 1 else 0 end as deals_won,
        case when is_lost then 1 else 0 end as deals_lost,
        case when is_won then price else 0 end as revenue_won,
        sales_cycle_days
    from leads
    where (is_won or is_lost)
        and closed_date is not null
),

-- The counts and money summed per day first (many leads share a day), then rolled up to the three
-- grains: the same exact sums (integers and decimals) as grouping the lead rows per grain, from far
-- fewer rows.
daily as (
    select
        account_id,
        currency,
        local_day,
        pipeline_id,
        manager_id,
        sum(leads_created) as leads_created,
        sum(deals_won) as deals_won,
        sum(revenue_won) as revenue_won,
        sum(deals_lost) as deals_lost,
        sum(cohort_won) as cohort_won
    from lead_days
    group by all
),

sums as (
    select
        daily.account_id,
        daily.currency,
        period_grains.period_grain,
        {{ period_start('period_grains.period_grain', 'daily.local_day') }} as period_start,
        daily.pipeline_id,
        daily.manager_id,
        sum(daily.leads_created) as leads_created,
        sum(daily.deals_won) as deals_won,
        sum(daily.revenue_won) as revenue_won,
        sum(daily.deals_lost) as deals_lost,
        sum(daily.cohort_won) as cohort_won
    from daily
    cross join {{ period_grains() }}
    group by all
),

-- The sales cycle and its quantiles need each deal's value per grain, but only the won deals have one:
-- a grain with none gets nulls below. The days are summed in DECIMAL, exact: a DOUBLE sum depends on the
-- order DuckDB's threads add the rows in, and the published sum and mean then changed from build to build.
cycles as (
    select
        lead_days.account_id,
        period_grains.period_grain,
        {{ period_start('period_grains.period_grain', 'lead_days.local_day') }} as period_start,
        lead_days.pipeline_id,
        lead_days.manager_id,
        sum(cast(lead_days.sales_cycle_days as decimal(18, 9))) as sales_cycle_days_sum,
        -- both quantiles from one sort of each group's values: [median, p90]
        quantile_cont(lead_days.sales_cycle_days, [0.5, 0.9]) as sales_cycle_days_quantiles
    from lead_days
    cross join {{ period_grains() }}
    where lead_days.sales_cycle_days is not null
    group by all
),

aggregated as (
    select
        sums.*,
        cycles.sales_cycle_days_sum,
        cycles.sales_cycle_days_quantiles
    from sums
    left join cycles
        on cycles.account_id = sums.account_id
        and cycles.period_grain = sums.period_grain
        and cycles.period_start = sums.period_start
        and cycles.pipeline_id is not distinct from sums.pipeline_id
        and cycles.manager_id is not distinct from sums.manager_id
),

final as (
    select
        cast(account_id as bigint) as account_id,
        cast(currency as varchar) as currency,
        cast(period_grain as varchar) as period_grain,
        cast(period_start as date) as period_start,
        cast(pipeline_id as bigint) as pipeline_id,
        cast(manager_id as bigint) as manager_id,
        cast(leads_created as bigint) as leads_created,
        cast(deals_won as bigint) as deals_won,
        cast(revenue_won as decimal(18, 2)) as revenue_won,
        {{ money_divide('revenue_won', 'deals_won') }} as avg_deal_value,
        cast(deals_lost as bigint) as deals_lost,
        {{ safe_divide('deals_won', 'deals_won + deals_lost') }} as win_rate,
        cast(leads_created as bigint) as cohort_leads,
        cast(cohort_won as bigint) as cohort_won,
        {{ safe_divide('cohort_won', 'leads_created') }} as cohort_conversion,
        cast(coalesce(sales_cycle_days_sum, 0) as double) as sales_cycle_days_sum,
        {{ safe_divide('sales_cycle_days_sum', 'deals_won') }} as sales_cycle_days_mean,
        sales_cycle_days_quantiles[1] as sales_cycle_days_median,
        sales_cycle_days_quantiles[2] as sales_cycle_days_p90
    from aggregated
)

select * from final
