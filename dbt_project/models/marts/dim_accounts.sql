-- The amoCRM accounts of the warehouse, one row each: what account_id means in every other table,
-- the timezone its dates are in, the currency its money is in, and how current its data is: stale when
-- its newest successful extraction is older than the freshness limit (var amocrm_freshness_hours, from
-- AMOCRM_KPI_FRESHNESS_HOURS, the limit the Dagster sensor account_freshness alerts on) at build time.
{%- set freshness_hours = var('amocrm_freshness_hours') | string | trim %}
{%- if not modules.re.fullmatch('[0-9]+([.][0-9]+)?', freshness_hours) %}
    {{ exceptions.raise_compiler_error(
        "AMOCRM_KPI_FRESHNESS_HOURS (dbt var amocrm_freshness_hours) must be a number of hours such as 48, "
        ~ "not '" ~ freshness_hours ~ "': it says when an account's data is stale (dim_accounts.is_stale).") }}
{%- endif %}

with accounts as (
    select * from {{ ref('stg_amocrm__account') }}
),

extraction as (
    select account_id, extracted_at from {{ ref('int_extraction') }}
),

freshness as (
    select
        cast({{ freshness_hours }} as double) as stale_after_hours,
        current_timestamp as checked_at
),

final as (
    select
        accounts.account_id,
        accounts.account_name as name,
        accounts.subdomain,
        accounts.timezone,
        accounts.currency,
        accounts.currency_symbol,
        extraction.extracted_at,
        extraction.extracted_at as last_extracted_at,
        coalesce(
            extraction.extracted_at
                < freshness.checked_at - to_microseconds(cast(freshness.stale_after_hours * 3600e6 as bigint)),
            true
        ) as is_stale,
        freshness.stale_after_hours,
        freshness.checked_at as freshness_checked_at
    from accounts
    left join extraction on extraction.account_id = accounts.account_id
    cross join freshness
)

select * from final
