with leads as (
    select
        account_id,
        lead_id,
        cast(date_trunc('month', created_date) as date) as cohort_month
    from {{ ref('stg_amocrm__leads') }}
    where not is_deleted
),

stages as (
    select account_id, pipeline_id, status_id, stage_order, is_last_stage
    from {{ ref('int_pipeline_stages') }}
    where stage_order is not null
),

-- Not materialized: each reader filters it first (the open stays, the completed ones), which costs less
-- than writing out three million joined rows once.
history as not materialized (
    select history.*, leads.cohort_month
    from {{ ref('int_lead_status_history') }} as history
    inner join leads
        on leads.account_id = history.account_id
        and leads.lead_id = history.lead_id
),

extraction as (
    select account_id, extracted_at from {{ ref('int_extraction') }}
),

-- How many leads of each cohort got furthest to each stage order: counted straight from the join, not
-- kept per lead (the grid below needs only which cohorts have leads in a pipeline).
furthest_counts as (
    select
        reached.account_id,
        leads.cohort_month,
        reached.pipeline_id,
        reached.furthest_stage_order as stage_order,
        count(*) as leads
    from {{ ref('int_lead_stages_reached') }} as reached
    inner join leads
        on leads.account_id = reached.account_id
        and leads.lead_id = reached.lead_id
    group by all
),

-- Every path stage of every pipeline, for each cohort that has leads in that pipeline.
grid as (
    select cohorts.account_id, cohorts.cohort_month, stages.pipeline_id, stages.status_id, stages.stage_order, stages.is_last_stage
    from (select distinct account_id, cohort_month, pipeline_id from furthest_counts) as cohorts
    inner join stages
        on stages.account_id = cohorts.account_id
        and stages.pipeline_id = cohorts.pipeline_id
),

reached as (
    select
        grid.*,
        sum(coalesce(furthest_counts.leads, 0)) over (
            partition by grid.account_id, grid.cohort_month, grid.pipeline_id
            order by grid.stage_order desc
            rows between unbounded preceding and current row
        ) as reached
    from grid
    left join furthest_counts
        on furthest_counts.account_id = grid.account_id
        and furthest_counts.cohort_month = grid.cohort_month
        and furthest_counts.pipeline_id = grid.pipeline_id
        and furthest_counts.stage_order = grid.stage_order
),

lost_here as (
    select leads.account_id, leads.cohort_month, lost.lost_at_pipeline_id as pipeline_id, lost.lost_at_status_id as status_id, count(*) as lost_here
    from {{ ref('int_lead_lost_at_stage') }} as lost
    inner join leads
        on leads.account_id = lost.account_id
        and leads.lead_id = lost.lead_id
    group by all
),

open_here as (
    select
        history.account_id,
        history.cohort_month,
        history.pipeline_id,
        history.status_id,
        count(*) as open_here,
        quantile_cont((epoch(extraction.extracted_at) - epoch(history.entered_at)) / 3600.0, 0.5) as open_age_hours_median,
        max((epoch(extraction.extracted_at) - epoch(history.entered_at)) / 3600.0) as open_age_hours_max
    from history
    inner join extraction on extraction.account_id = history.account_id
    where history.is_current
        and history.status_id not in (142, 143)
    group by all
),

time_in_stage as (
    select
        account_id,
        cohort_month,
        pipeline_id,
        status_id,
        count(*) as completed_stays,
        -- both quantiles from one sort of each group's values: [median, p90]
        quantile_cont(hours_in_status, [0.5, 0.9]) as hours_in_stage_quantiles
    from history
    where not is_current
    group by all
),

with_next as (
    select
        reached.*,
        case when not reached.is_last_stage
            then lead(reached.reached) over (
                partition by reached.account_id, reached.cohort_month, reached.pipeline_id order by reached.stage_order
            )
        end as reached_next
    from reached
),

final as (
    select
        with_next.account_id,
        with_next.cohort_month,
        with_next.pipeline_id,
        with_next.status_id,
        cast(with_next.stage_order as integer) as stage_order,
        cast(with_next.reached as bigint) as reached,
        cast(with_next.reached_next as bigint) as reached_next,
        {{ safe_divide('with_next.reached_next', 'with_next.reached') }} as stage_conversion,
        cast(coalesce(lost_here.lost_here, 0) as bigint) as lost_here,
        cast(coalesce(open_here.open_here, 0) as bigint) as open_here,
        open_here.open_age_hours_median as open_here_age_hours_median,
        open_here.open_age_hours_max as open_here_age_hours_max,
        cast(coalesce(time_in_stage.completed_stays, 0) as bigint) as completed_stays,
        time_in_stage.hours_in_stage_quantiles[1] as hours_in_stage_median,
        time_in_stage.hours_in_stage_quantiles[2] as hours_in_stage_p90,
        time_in_stage.hours_in_stage_quantiles[1] / 24 as days_in_stage_median,
        time_in_stage.hours_in_stage_quantiles[2] / 24 as days_in_stage_p90
    from with_next
    left join lost_here
        on lost_here.account_id = with_next.account_id
        and lost_here.cohort_month = with_next.cohort_month
        and lost_here.pipeline_id = with_next.pipeline_id
        and lost_here.status_id = with_next.status_id
    left join open_here
        on open_here.account_id = with_next.account_id
        and open_here.cohort_month = with_next.cohort_month
        and open_here.pipeline_id = with_next.pipeline_id
        and open_here.status_id = with_next.status_id
    left join time_in_stage
        on time_in_stage.account_id = with_next.account_id
        and time_in_stage.cohort_month = with_next.cohort_month
        and time_in_stage.pipeline_id = with_next.pipeline_id
        and time_in_stage.status_id = with_next.status_id
)

select * from final
