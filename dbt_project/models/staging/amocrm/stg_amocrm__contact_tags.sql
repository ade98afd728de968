with source as (
    select * from {{ source('raw_amocrm', 'contacts__tags') }}
),

renamed as (
    select
        cast(account_id as bigint) as account_id,
        cast(contact_id as bigint) as contact_id,
        cast(tag_id as bigint) as tag_id,
        name as tag_name
    from source
)

select * from renamed
