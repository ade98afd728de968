with leads as (
    select * from {{ ref('int_lead_first_response') }}
),

aggregated as (
    select
        leads.account_id,
        period_grains.period_grain,
        {{ period_start('period_grains.period_grain', 'leads.created_date') }} as period_start,
        leads.pipeline_id,
        leads.manager_id,
        count(*) as leads_created,
        count(*) filter (where leads.first_response_at is not null) as leads_responded,
        count(*) filter (where leads.responded_within_sla) as responded_within_sla,
        count(*) filter (where leads.is_sla_elapsed) as leads_sla_elapsed,
        quantile_cont(leads.first_response_minutes, 0.5) as first_response_minutes_median,
        quantile_cont(leads.first_response_minutes, 0.9) as first_response_minutes_p90,
        sum(leads.touches_24h) as touches_24h,
        sum(leads.touches_14d) as touches_14d,
        count(*) filter (where leads.is_14d_elapsed and leads.touches_14d = 0) as leads_without_touch_14d
    from leads
    cross join {{ period_grains() }}
    group by all
),

final as (
    select
        cast(account_id as bigint) as account_id,
        cast(period_grain as varchar) as period_grain,
        cast(period_start as date) as period_start,
        cast(pipeline_id as bigint) as pipeline_id,
        cast(manager_id as bigint) as manager_id,
        cast(leads_created as bigint) as leads_created,
        cast(leads_responded as bigint) as leads_responded,
        cast(responded_within_sla as bigint) as responded_within_sla,
        cast(leads_sla_elapsed as bigint) as leads_sla_elapsed,
        cast({{ safe_divide('responded_within_sla', 'leads_sla_elapsed') }} as double) as responded_within_sla_share,
        cast(first_response_minutes_median as double) as first_response_minutes_median,
        cast(first_response_minutes_p90 as double) as first_response_minutes_p90,
        cast(touches_24h as bigint) as touches_24h,
        cast(touches_14d as bigint) as touches_14d,
        cast(leads_without_touch_14d as bigint) as leads_without_touch_14d
    from aggregated
)

select * from final
