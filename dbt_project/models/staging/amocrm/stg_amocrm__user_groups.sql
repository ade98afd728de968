with source as (
    select * from {{ source('raw_amocrm', 'user_groups') }}
),

renamed as (
    select
        cast(account_id as bigint) as account_id,
        cast(id as bigint) as group_id,
        name as group_name
    from source
)

select * from renamed
