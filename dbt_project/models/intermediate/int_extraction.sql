-- Per account: when its newest successful dlt load (status 0) finished, i.e. how current its data is.
-- Which account a load wrote is read from the small reference tables every extraction rewrites (the
-- account row itself, its users): each raw row carries account_id and the _dlt_load_id that wrote it.
-- With one account in the warehouse every load is its own (a warehouse loaded before account_id existed
-- too). An account with no completed load left is a null extracted_at, which the YAML test makes loud.
with loads as (
    select load_id, inserted_at
    from {{ source('raw_amocrm', '_dlt_loads') }}
    where status = 0
),

account as (
    select account_id, timezone from {{ ref('stg_amocrm__account') }}
),

load_accounts as (
    select distinct cast(account_id as bigint) as account_id, _dlt_load_id as load_id
    from {{ source('raw_amocrm', 'account') }}
    union
    select distinct cast(account_id as bigint) as account_id, _dlt_load_id as load_id
    from {{ source('raw_amocrm', 'users') }}
),

latest as (
    select
        account.account_id,
        case
            when (select count(*) from account) = 1 then (select max(inserted_at) from loads)
            else max(loads.inserted_at)
        end as extracted_at
    from account
    left join load_accounts on load_accounts.account_id = account.account_id
    left join loads on loads.load_id = load_accounts.load_id
    group by account.account_id
),

final as (
    select
        latest.account_id,
        latest.extracted_at,
        {{ local_date('latest.extracted_at') }} as extracted_date,
        account.timezone
    from latest
    inner join account on account.account_id = latest.account_id
)

select * from final
