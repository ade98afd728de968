with source as (
    select * from {{ source('raw_amocrm', 'pipelines') }}
),

renamed as (
    select
        cast(account_id as bigint) as account_id,
        cast(id as bigint) as pipeline_id,
        name as pipeline_name,
        cast(sort as integer) as pipeline_sort,
        coalesce(cast(is_main as boolean), false) as is_main,
        coalesce(cast(is_unsorted_on as boolean), false) as is_unsorted_on,
        coalesce(cast(is_archive as boolean), false) as is_archive
    from source
)

select * from renamed
