with source as (
    select * from {{ source('raw_amocrm', 'contacts__custom_field_values') }}
),

renamed as (
    select
        cast(contact_id as bigint) as contact_id,
        cast(field_id as bigint) as field_id,
        field_name,
        field_code,
        field_type,
        value,
        cast(enum_id as bigint) as enum_id,
        enum_code
    from source
)

select * from renamed
