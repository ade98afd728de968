with source as (
    select * from {{ source('raw_amocrm', 'pipeline_statuses') }}
),

renamed as (
    select
        cast(account_id as bigint) as account_id,
        cast(pipeline_id as bigint) as pipeline_id,
        cast(id as bigint) as status_id,
        name as status_name,
        cast(sort as integer) as status_sort,
        cast(type as integer) as status_type,
        color,
        cast(is_editable as boolean) as is_editable,
        coalesce(type = 1, false) as is_incoming,
        id = 142 as is_won,
        id = 143 as is_lost
    from source
)

select * from renamed
