with source as (
    select * from {{ source('raw_amocrm', 'account') }}
),

renamed as (
    select
        cast(id as bigint) as account_id,
        name as account_name,
        subdomain,
        currency,
        currency_symbol,
        country,
        language,
        timezone,
        timezone_offset,
        cast(is_loss_reason_enabled as boolean) as is_loss_reason_enabled,
        cast(is_api_filter_enabled as boolean) as is_api_filter_enabled
    from source
)

select * from renamed
