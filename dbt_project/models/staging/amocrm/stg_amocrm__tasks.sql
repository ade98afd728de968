with source as (
    select * from {{ source('raw_amocrm', 'tasks') }}
),

account as (
    select account_id, timezone from {{ ref('stg_amocrm__account') }}
),

renamed as (
    select
        cast(source.account_id as bigint) as account_id,
        cast(source.id as bigint) as task_id,
        {{ singular_entity_type('source.entity_type') }} as entity_type,
        cast(source.entity_id as bigint) as entity_id,
        cast(source.task_type_id as bigint) as task_type_id,
        source.text as task_text,
        cast(source.duration as bigint) as duration_seconds,
        cast(source.responsible_user_id as bigint) as responsible_user_id,
        cast(source.group_id as bigint) as group_id,
        cast(source.created_by as bigint) as created_by,
        cast(source.updated_by as bigint) as updated_by,
        {{ from_unix('source.created_at') }} as created_at,
        {{ from_unix('source.updated_at') }} as updated_at,
        {{ from_unix('source.complete_till') }} as complete_till,
        {{ local_date(from_unix('source.complete_till')) }} as complete_till_date,
        coalesce(cast(source.is_completed as boolean), false) as is_completed,
        source.result_text,
        source._dlt_load_id as load_id
    from source
    -- each account's dates in its own timezone
    inner join account on account.account_id = source.account_id
)

select * from renamed
