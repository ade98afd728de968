{{ config(meta={'dagster': {'ref': {'name': 'fct_sales_kpi'}}}) }}
-- Won revenue and won/lost deal counts of fct_sales_kpi match the (non-deleted) deals of fct_leads:
-- per month, pipeline and manager for the day and month grains, and in total for the week grain
-- (a week can straddle two months).
with leads_monthly as (
    select
        account_id,
        cast(date_trunc('month', closed_date) as date) as month,
        pipeline_id,
        manager_id,
        count(*) filter (where is_won) as deals_won,
        coalesce(sum(price) filter (where is_won), 0) as revenue_won,
        count(*) filter (where is_lost) as deals_lost
    from {{ ref('fct_leads') }}
    where not is_deleted
        and (is_won or is_lost)
    group by all
),

expected as (
    select grains.period_grain, leads_monthly.*
    from leads_monthly
    cross join (values ('day'), ('month')) as grains (period_grain)
),

published as (
    select
        account_id,
        period_grain,
        cast(date_trunc('month', period_start) as date) as month,
        pipeline_id,
        manager_id,
        sum(deals_won) as deals_won,
        sum(revenue_won) as revenue_won,
        sum(deals_lost) as deals_lost
    from {{ ref('fct_sales_kpi') }}
    where period_grain in ('day', 'month')
    group by all
    having sum(deals_won) > 0 or sum(deals_lost) > 0
),

monthly_mismatches as (
    select
        coalesce(expected.account_id, published.account_id) as account_id,
        coalesce(expected.period_grain, published.period_grain) as period_grain,
        coalesce(expected.month, published.month) as month,
        coalesce(expected.pipeline_id, published.pipeline_id) as pipeline_id,
        coalesce(expected.manager_id, published.manager_id) as manager_id,
        expected.revenue_won as expected_revenue_won,
        published.revenue_won as published_revenue_won
    from expected
    full outer join published
        on published.account_id = expected.account_id
        and published.period_grain = expected.period_grain
        and published.month = expected.month
        and published.pipeline_id = expected.pipeline_id
        and published.manager_id is not distinct from expected.manager_id
    where expected.month is null
        or published.month is null
        or published.deals_won <> expected.deals_won
        or published.revenue_won <> expected.revenue_won
        or published.deals_lost <> expected.deals_lost
),

weekly_mismatches as (
    select
        weekly.account_id,
        'week' as period_grain,
        cast(null as date) as month,
        cast(null as bigint) as pipeline_id,
        cast(null as bigint) as manager_id,
        totals.revenue_won as expected_revenue_won,
        weekly.revenue_won as published_revenue_won
    from (
        select account_id, sum(revenue_won) as revenue_won, sum(deals_won) as deals_won, sum(deals_lost) as deals_lost
        from {{ ref('fct_sales_kpi') }}
        where period_grain = 'week'
        group by account_id
    ) as weekly
    full outer join (
        select account_id, sum(revenue_won) as revenue_won, sum(deals_won) as deals_won, sum(deals_lost) as deals_lost
        from leads_monthly
        group by account_id
    ) as totals on totals.account_id = weekly.account_id
    where weekly.revenue_won is distinct from totals.revenue_won
        or weekly.deals_won is distinct from totals.deals_won
        or weekly.deals_lost is distinct from totals.deals_lost
)

select * from monthly_mismatches
union all
select * from weekly_mismatches
