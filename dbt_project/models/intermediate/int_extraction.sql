-- Per account: when its newest successful dlt load (status 0) finished, i.e. how current its data is.
-- Which account a load wrote: `extractions` names it (one row per run, loaded in the same package as the
-- data, so even a run of a few resources counts). Loads from before that table existed are still read
-- from the reference tables every extraction rewrites (the account row, its users: each raw row carries
-- account_id and the _dlt_load_id that wrote it); a warehouse not re-extracted since the upgrade has no
-- `extractions` yet and is read that way only. With one account every load is its own. An account with
-- no completed load left is a null extracted_at, which the YAML test makes loud.
{%- set extractions = source('raw_amocrm', 'extractions') %}
{%- set has_extractions = execute and adapter.get_relation(database=extractions.database,
                                                           schema=extractions.schema,
                                                           identifier=extractions.identifier) is not none %}

with loads as (
    select load_id, inserted_at
    from {{ source('raw_amocrm', '_dlt_loads') }}
    where status = 0
),

account as (
    select account_id, timezone from {{ ref('stg_amocrm__account') }}
),

load_accounts as (
    {%- if has_extractions %}
    select distinct cast(account_id as bigint) as account_id, _dlt_load_id as load_id
    from {{ extractions }}
    union
    {%- endif %}
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
