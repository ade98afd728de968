-- The amoCRM accounts of the warehouse, one row each: what account_id means in every other table,
-- the timezone its dates are in, the currency its money is in, and how current its data is.
with accounts as (
    select * from {{ ref('stg_amocrm__account') }}
),

extraction as (
    select account_id, extracted_at from {{ ref('int_extraction') }}
),

final as (
    select
        accounts.account_id,
        accounts.account_name as name,
        accounts.subdomain,
        accounts.timezone,
        accounts.currency,
        accounts.currency_symbol,
        extraction.extracted_at
    from accounts
    left join extraction on extraction.account_id = accounts.account_id
)

select * from final
