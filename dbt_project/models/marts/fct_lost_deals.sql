with lost as (
    select
        account_id, currency, closed_date, pipeline_id, manager_id, loss_reason_id, loss_reason,
        lost_at_pipeline_id, lost_at_status_id, price
    from {{ ref('fct_leads') }}
    where not is_deleted
        and is_lost
        and closed_date is not null
),

-- Counted and summed per day first (many lost deals share a day and a line), then rolled up to the
-- three grains: the same exact sums (a count and decimals) from far fewer rows.
daily as (
    select
        account_id,
        currency,
        closed_date,
        pipeline_id,
        manager_id,
        loss_reason_id,
        loss_reason,
        lost_at_pipeline_id,
        lost_at_status_id,
        count(*) as deals_lost,
        sum(price) as value_lost
    from lost
    group by all
),

-- The day grain is the daily sums themselves; only weeks and months are rolled up from them.
aggregated as (
    select
        account_id,
        currency,
        'day' as period_grain,
        closed_date as period_start,
        pipeline_id,
        manager_id,
        loss_reason_id,
        loss_reason,
        lost_at_pipeline_id,
        lost_at_status_id,
        deals_lost,
        value_lost
    from daily

    union all

    select
        daily.account_id,
        daily.currency,
        period_grains.period_grain,
        {{ period_start('period_grains.period_grain', 'daily.closed_date') }} as period_start,
        daily.pipeline_id,
        daily.manager_id,
        daily.loss_reason_id,
        daily.loss_reason,
        daily.lost_at_pipeline_id,
        daily.lost_at_status_id,
        sum(daily.deals_lost) as deals_lost,
        sum(daily.value_lost) as value_lost
    from daily
    cross join (values ('week'), ('month')) as period_grains (period_grain)
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
        cast(loss_reason_id as bigint) as loss_reason_id,
        cast(loss_reason as varchar) as loss_reason,
        cast(lost_at_pipeline_id as bigint) as lost_at_pipeline_id,
        cast(lost_at_status_id as bigint) as lost_at_status_id,
        cast(deals_lost as bigint) as deals_lost,
        cast(value_lost as decimal(18, 2)) as value_lost
    from aggregated
)

select * from final
