-- Along the path of a pipeline, every stage is reached by at most as many leads as the stage before it.
with stages as (
    select
        account_id,
        cohort_month,
        pipeline_id,
        status_id,
        stage_order,
        reached,
        lag(reached) over (partition by account_id, cohort_month, pipeline_id order by stage_order) as reached_before
    from {{ ref('fct_funnel') }}
)

select *
from stages
where reached > reached_before
