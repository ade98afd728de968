with stages as (
    select * from {{ ref('int_pipeline_stages') }}
),

pipelines as (
    select * from {{ ref('stg_amocrm__pipelines') }}
),

final as (
    select
        stages.account_id,
        stages.pipeline_id,
        pipelines.pipeline_name,
        pipelines.pipeline_sort,
        pipelines.is_main as is_main_pipeline,
        pipelines.is_archive as is_archived_pipeline,
        stages.status_id,
        stages.status_name,
        stages.status_sort,
        stages.stage_order,
        stages.next_status_id,
        stages.is_incoming,
        stages.is_won,
        stages.is_lost,
        stages.is_deleted
    from stages
    left join pipelines
        on pipelines.account_id = stages.account_id
        and pipelines.pipeline_id = stages.pipeline_id
)

select * from final
