with statuses as (
    select * from {{ ref('stg_amocrm__pipeline_statuses') }}
),

path_stages as (
    select
        pipeline_id,
        status_id,
        row_number() over (
            partition by pipeline_id
            order by
                case when is_incoming then 0 when is_won then 2 else 1 end,
                status_sort,
                status_id
        ) as stage_order
    from statuses
    where not is_lost
),

ordered as (
    select
        path_stages.*,
        lead(status_id) over (partition by pipeline_id order by stage_order) as next_status_id,
        stage_order = max(stage_order) over (partition by pipeline_id) as is_last_stage
    from path_stages
),

final as (
    select
        statuses.pipeline_id,
        statuses.status_id,
        statuses.status_name,
        statuses.status_sort,
        statuses.status_type,
        statuses.is_incoming,
        statuses.is_won,
        statuses.is_lost,
        ordered.stage_order,
        ordered.next_status_id,
        coalesce(ordered.is_last_stage, false) as is_last_stage
    from statuses
    left join ordered
        on ordered.pipeline_id = statuses.pipeline_id
        and ordered.status_id = statuses.status_id
)

select * from final
