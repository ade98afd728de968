with source as (
    select * from {{ source('raw_amocrm', 'custom_fields__enums') }}
),

renamed as (
    select
        cast(account_id as bigint) as account_id,
        cast(field_id as bigint) as field_id,
        cast(id as bigint) as enum_id,
        value as enum_value,
        cast(sort as integer) as enum_sort,
        code as enum_code
    from source
)

select * from renamed
