with leads as (
    select * from {{ ref('fct_leads') }}
    where not is_deleted
),

-- Each lead contributes on the day it was created (and to its cohort) and, once closed,
-- on the day it was closed; both in the account timezone.
lead_days as (
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

aggregated as (
    select
        lead_days.account_id,
        lead_days.currency,
        period_grains.period_grain,
        {{ period_start('period_grains.period_grain', 'lead_days.local_day') }} as period_start,
        lead_days.pipeline_id,
        lead_days.manager_id,
        sum(lead_days.leads_created) as leads_created,
        sum(lead_days.deals_won) as deals_won,
        sum(lead_days.revenue_won) as revenue_won,
        sum(lead_days.deals_lost) as deals_lost,
        sum(lead_days.cohort_won) as cohort_won,
        sum(lead_days.sales_cycle_days) as sales_cycle_days_sum,
        -- both quantiles from one sort of each group's values: [median, p90]
        quantile_cont(lead_days.sales_cycle_days, [0.5, 0.9]) as sales_cycle_days_quantiles
    from lead_days
    cross join {{ period_grains() }}
    group by all
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
