with source as (
    select * from {{ source('raw_amocrm', 'leads__contacts') }}
),

renamed as (
    select
        cast(account_id as bigint) as account_id,
        cast(lead_id as bigint) as lead_id,
        cast(contact_id as bigint) as contact_id,
        coalesce(cast(is_main as boolean), false) as is_main
    from source
)

select * from renamed
