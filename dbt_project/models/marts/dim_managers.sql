with users as (
    select * from {{ ref('stg_amocrm__users') }}
),

groups as (
    select * from {{ ref('stg_amocrm__user_groups') }}
),

final as (
    select
        users.account_id,
        users.user_id as manager_id,
        users.user_name as manager_name,
        users.email,
        users.group_id,
        groups.group_name,
        users.is_active,
        users.is_admin
    from users
    left join groups
        on groups.account_id = users.account_id
        and groups.group_id = users.group_id
)

select * from final
