with loads as (
    select inserted_at
    from {{ source('raw_amocrm', '_dlt_loads') }}
    where status = 0
),

latest as (
    select max(inserted_at) as extracted_at
    from loads
),

account as (
    select timezone from {{ ref('stg_amocrm__account') }}
),

final as (
    select
        latest.extracted_at,
        {{ local_date('latest.extracted_at') }} as extracted_date,
        account.timezone
    from latest
    cross join account
)

select * from final
