with source as (
    select * from {{ source('raw_amocrm', 'users') }}
),

renamed as (
    select
        cast(account_id as bigint) as account_id,
        cast(id as bigint) as user_id,
        name as user_name,
        email,
        lang,
        -- live accounts send null for the default group, whose id is 0 (it is in the account's group list)
        coalesce(cast(group_id as bigint), 0) as group_id,
        cast(role_id as bigint) as role_id,
        coalesce(cast(is_admin as boolean), false) as is_admin,
        coalesce(cast(is_active as boolean), false) as is_active,
        coalesce(cast(is_free as boolean), false) as is_free
    from source
)

select * from renamed
