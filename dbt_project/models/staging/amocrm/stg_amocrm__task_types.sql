with source as (
    select * from {{ source('raw_amocrm', 'task_types') }}
),

renamed as (
    select
        cast(account_id as bigint) as account_id,
        cast(id as bigint) as task_type_id,
        name as task_type_name,
        code as task_type_code
    from source
)

select * from renamed
