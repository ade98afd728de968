with responses as (
    select * from {{ ref('int_satisfaction_responses') }}
),

daily as (
    select
        account_id,
        response_date,
        manager_id,
        count(*) as responses,
        count(*) filter (where is_promoter) as promoters,
        count(*) filter (where is_detractor) as detractors,
        sum(score) as score_sum
    from responses
    group by all
),

aggregated as (
    select
        daily.account_id,
        period_grains.period_grain,
        {{ period_start('period_grains.period_grain', 'daily.response_date') }} as period_start,
        daily.manager_id,
        sum(responses) as responses,
        sum(promoters) as promoters,
        sum(detractors) as detractors,
        sum(score_sum) as score_sum
    from daily
    cross join {{ period_grains() }}
    group by all
),

final as (
    select
        cast(account_id as bigint) as account_id,
        cast(period_grain as varchar) as period_grain,
        cast(period_start as date) as period_start,
        cast(manager_id as bigint) as manager_id,
        cast(responses as bigint) as responses,
        cast(promoters as bigint) as promoters,
        cast(detractors as bigint) as detractors,
        cast(score_sum as decimal(18, 2)) as score_sum,
        cast({{ safe_divide('score_sum', 'responses') }} as double) as csat,
        cast({{ safe_divide('100.0 * (promoters - detractors)', 'responses') }} as double) as nps
    from aggregated
)

select * from final
