with source as (
    select * from {{ source('raw_amocrm', 'custom_fields') }}
),

renamed as (
    select
        cast(account_id as bigint) as account_id,
        cast(id as bigint) as field_id,
        {{ singular_entity_type('entity_type') }} as entity_type,
        name as field_name,
        code as field_code,
        type as field_type,
        cast(sort as integer) as field_sort,
        coalesce(cast(is_predefined as boolean), false) as is_predefined
    from source
)

select * from renamed
