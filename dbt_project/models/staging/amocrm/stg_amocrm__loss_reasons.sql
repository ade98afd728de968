with source as (
    select * from {{ source('raw_amocrm', 'loss_reasons') }}
),

renamed as (
    select
        cast(account_id as bigint) as account_id,
        cast(id as bigint) as loss_reason_id,
        name as loss_reason_name,
        cast(sort as integer) as loss_reason_sort,
        {{ from_unix('created_at') }} as created_at,
        {{ from_unix('updated_at') }} as updated_at
    from source
)

select * from renamed
