with source as (
    select * from {{ source('raw_amocrm', 'companies') }}
),

account as (
    select account_id, timezone from {{ ref('stg_amocrm__account') }}
),

renamed as (
    select
        cast(source.account_id as bigint) as account_id,
        cast(source.id as bigint) as company_id,
        source.name as company_name,
        cast(source.responsible_user_id as bigint) as responsible_user_id,
        cast(source.group_id as bigint) as group_id,
        cast(source.created_by as bigint) as created_by,
        cast(source.updated_by as bigint) as updated_by,
        {{ from_unix('source.created_at') }} as created_at,
        {{ local_date(from_unix('source.created_at')) }} as created_date,
        {{ from_unix('source.updated_at') }} as updated_at,
        coalesce(cast(source.is_deleted as boolean), false) as is_deleted,
        {{ from_unix('source.deleted_at') }} as deleted_at
    from source
    -- each account's dates in its own timezone
    inner join account on account.account_id = source.account_id
)

select * from renamed
