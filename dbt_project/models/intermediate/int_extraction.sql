-- Per account: when its newest successful dlt load (status 0) finished, i.e. how current its data is.
-- Which account a load wrote: `extractions` names it (one row per run, loaded in the same package as the
-- data, so even a run of a few resources counts). Loads from before that table existed are still read
-- from the reference tables every extraction rewrites (the account row, its users: each raw row carries
-- account_id and the _dlt_load_id that wrote it); a warehouse not re-extracted since the upgrade has no
-- `extractions` yet and is read that way only. With one account every load is its own. An account with
-- no completed load left is a null extracted_at, which the YAML test makes loud.
-- That legacy rule is a guess, so it is never silent: extracted_at_rule says which rule dated the account,
-- the post-hook logs a warning naming the accounts and loads it dated, and a warn test fails on them.
{{ config(post_hook="{{ warn_on_legacy_extraction_rule() }}") }}
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

named_loads as (
    {%- if has_extractions %}
    select distinct cast(account_id as bigint) as account_id, _dlt_load_id as load_id
    from {{ extractions }}
    {%- else %}
    select cast(null as bigint) as account_id, cast(null as varchar) as load_id
    where false
    {%- endif %}
),

reference_loads as (
    select distinct cast(account_id as bigint) as account_id, _dlt_load_id as load_id
    from {{ source('raw_amocrm', 'account') }}
    union
    select distinct cast(account_id as bigint) as account_id, _dlt_load_id as load_id
    from {{ source('raw_amocrm', 'users') }}
),

load_accounts as (
    select account_id, load_id, true as is_named
    from named_loads
    union all
    select reference_loads.account_id, reference_loads.load_id, false as is_named
    from reference_loads
    where not exists (
        select 1
        from named_loads
        where named_loads.account_id = reference_loads.account_id
            and named_loads.load_id = reference_loads.load_id
    )
),

account_count as (
    select count(*) as accounts from account
),

newest_load as (
    select arg_max(load_id, inserted_at) as load_id, max(inserted_at) as inserted_at from loads
),

per_account as (
    select
        account.account_id,
        max(loads.inserted_at) as attributed_at,
        arg_max(loads.load_id, loads.inserted_at) as attributed_load_id,
        max(loads.inserted_at) filter (where load_accounts.is_named) as named_at,
        max(loads.inserted_at) filter (where not load_accounts.is_named) as reference_at
    from account
    left join load_accounts on load_accounts.account_id = account.account_id
    left join loads on loads.load_id = load_accounts.load_id
    group by account.account_id
),

latest as (
    select
        per_account.account_id,
        case
            when account_count.accounts = 1 then newest_load.inserted_at
            else per_account.attributed_at
        end as extracted_at,
        case
            when account_count.accounts = 1 then newest_load.load_id
            else per_account.attributed_load_id
        end as extracted_load_id,
        case
            when per_account.named_at is not null
                and (per_account.reference_at is null or per_account.reference_at <= per_account.named_at)
                then 'extractions'
            when per_account.reference_at is not null then 'reference_tables'
            when account_count.accounts = 1 and newest_load.load_id is not null then 'only_account'
        end as extracted_at_rule
    from per_account
    cross join account_count
    cross join newest_load
),

final as (
    select
        latest.account_id,
        latest.extracted_at,
        {{ local_date('latest.extracted_at') }} as extracted_date,
        account.timezone,
        latest.extracted_at_rule,
        latest.extracted_load_id
    from latest
    inner join account on account.account_id = latest.account_id
)

select * from final
