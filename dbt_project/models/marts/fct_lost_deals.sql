with lost as (
    select * from {{ ref('fct_leads') }}
    where not is_deleted
        and is_lost
        and closed_date is not null
),

aggregated as (
    select
        lost.account_id,
        lost.currency,
        period_grains.period_grain,
        {{ period_start('period_grains.period_grain', 'lost.closed_date') }} as period_start,
        lost.pipeline_id,
        lost.manager_id,
        lost.loss_reason_id,
        lost.loss_reason,
        lost.lost_at_pipeline_id,
        lost.lost_at_status_id,
        count(*) as deals_lost,
        sum(lost.price) as value_lost
    from lost
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
        cast(loss_reason_id as bigint) as loss_reason_id,
        cast(loss_reason as varchar) as loss_reason,
        cast(lost_at_pipeline_id as bigint) as lost_at_pipeline_id,
        cast(lost_at_status_id as bigint) as lost_at_status_id,
        cast(deals_lost as bigint) as deals_lost,
        cast(value_lost as decimal(18, 2)) as value_lost
    from aggregated
)

select * from final
