with targets as (
    select account_id, month, manager_id, target_revenue, target_deals
    from {{ ref('int_sales_targets') }}
    where manager_id is not null
),

facts as (
    select
        account_id,
        period_start as month,
        manager_id,
        sum(revenue_won) as revenue_won,
        sum(deals_won) as deals_won
    from {{ ref('fct_sales_kpi') }}
    where period_grain = 'month'
        and deals_won > 0
    group by all
),

account as (
    select account_id, currency from {{ ref('stg_amocrm__account') }}
),

joined as (
    select
        coalesce(targets.account_id, facts.account_id) as account_id,
        coalesce(targets.month, facts.month) as month,
        coalesce(targets.manager_id, facts.manager_id) as manager_id,
        targets.target_revenue,
        coalesce(facts.revenue_won, 0) as revenue_won,
        targets.target_deals,
        coalesce(facts.deals_won, 0) as deals_won
    from targets
    full outer join facts
        on facts.account_id = targets.account_id
        and facts.month = targets.month
        and facts.manager_id = targets.manager_id
),

final as (
    select
        cast(joined.account_id as bigint) as account_id,
        cast(account.currency as varchar) as currency,
        cast(month as date) as month,
        cast(manager_id as bigint) as manager_id,
        cast(target_revenue as decimal(18, 2)) as target_revenue,
        cast(revenue_won as decimal(18, 2)) as revenue_won,
        cast(target_deals as bigint) as target_deals,
        cast(deals_won as bigint) as deals_won,
        cast({{ safe_divide('revenue_won', 'target_revenue') }} as double) as revenue_attainment,
        cast({{ safe_divide('deals_won', 'target_deals') }} as double) as deals_attainment
    from joined
    inner join account on account.account_id = joined.account_id
)

select * from final
