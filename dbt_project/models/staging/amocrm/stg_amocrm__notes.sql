with source as (
    select * from {{ source('raw_amocrm', 'notes') }}
),

account as (
    select account_id, timezone from {{ ref('stg_amocrm__account') }}
),

renamed as (
    select
        cast(source.account_id as bigint) as account_id,
        cast(source.id as bigint) as note_id,
        {{ singular_entity_type('source.entity_type') }} as entity_type,
        cast(source.entity_id as bigint) as entity_id,
        source.note_type,
        cast(source.created_by as bigint) as created_by,
        cast(source.updated_by as bigint) as updated_by,
        cast(source.responsible_user_id as bigint) as responsible_user_id,
        cast(source.group_id as bigint) as group_id,
        {{ from_unix('source.created_at') }} as created_at,
        {{ local_date(from_unix('source.created_at')) }} as created_date,
        {{ from_unix('source.updated_at') }} as updated_at,
        source.text as note_text,
        cast(source.call_duration as bigint) as call_duration,
        cast(source.call_status as integer) as call_status,
        source.call_result,
        source.call_phone,
        cast(source.mail_income as boolean) as mail_income,
        source.mail_subject,
        source.params_json,
        source._dlt_load_id as load_id
    from source
    -- each account's dates in its own timezone
    inner join account on account.account_id = source.account_id
)

select * from renamed
