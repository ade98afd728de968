with history as (
    select * from {{ ref('int_lead_status_history') }}
),

stages as (
    select account_id, pipeline_id, status_id, stage_order
    from {{ ref('int_pipeline_stages') }}
    where stage_order is not null
),

-- A lead reached a stage when it was ever in that stage or a later one of the same pipeline;
-- so per pipeline it visited, the furthest path stage it was ever in is all the funnel needs.
furthest as (
    select
        history.account_id,
        history.lead_id,
        history.pipeline_id,
        max(stages.stage_order) as furthest_stage_order,
        min(history.entered_at) as first_entered_at
    from history
    inner join stages
        on stages.account_id = history.account_id
        and stages.pipeline_id = history.pipeline_id
        and stages.status_id = history.status_id
    group by history.account_id, history.lead_id, history.pipeline_id
)

select * from furthest
