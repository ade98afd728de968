with source as (
    select * from {{ source('raw_amocrm', 'deletions') }}
),

renamed as (
    select
        cast(account_id as bigint) as account_id,
        entity_type,
        cast(id as bigint) as entity_id,
        {{ from_unix('deleted_at') }} as deleted_at,
        cast(deleted_by as bigint) as deleted_by
    from source
)

select * from renamed
