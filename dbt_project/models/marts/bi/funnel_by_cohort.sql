with funnel as (
    select * from {{ ref('fct_funnel') }}
),

stages as (
    select account_id, pipeline_id, pipeline_name, status_id, status_name from {{ ref('dim_pipeline_stages') }}
),

final as (
    select
        funnel.account_id,
        funnel.cohort_month,
        funnel.pipeline_id,
        stages.pipeline_name,
        funnel.status_id,
        stages.status_name as stage_name,
        funnel.stage_order,
        funnel.reached,
        funnel.reached_next,
        funnel.stage_conversion,
        funnel.lost_here,
        funnel.open_here,
        funnel.open_here_age_hours_median / 24 as open_here_age_days_median,
        funnel.open_here_age_hours_max / 24 as open_here_age_days_max,
        funnel.completed_stays,
        funnel.days_in_stage_median,
        funnel.days_in_stage_p90
    from funnel
    left join stages
        on stages.account_id = funnel.account_id
        and stages.pipeline_id = funnel.pipeline_id
        and stages.status_id = funnel.status_id
)

select * from final
