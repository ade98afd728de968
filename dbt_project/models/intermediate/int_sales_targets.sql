with targets as (
    select * from {{ ref('stg_inputs__sales_targets') }}
),

users as (
    select account_id, user_id, user_name from {{ ref('stg_amocrm__users') }}
),

-- The file names a manager by amoCRM user id or by exact user name.
resolved as (
    select
        targets.account_id,
        targets.month,
        targets.manager,
        coalesce(by_id.user_id, by_name.user_id) as manager_id,
        targets.target_revenue,
        targets.target_deals,
        targets.source_line
    from targets
    left join users as by_id
        on by_id.account_id = targets.account_id
        and cast(by_id.user_id as varchar) = targets.manager
    left join users as by_name
        on by_name.account_id = targets.account_id
        and by_name.user_name = targets.manager
)

select * from resolved
