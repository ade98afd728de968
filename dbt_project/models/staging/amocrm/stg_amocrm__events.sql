with source as (
    select * from {{ source('raw_amocrm', 'events') }}
),

account as (
    select account_id, timezone from {{ ref('stg_amocrm__account') }}
),

renamed as (
    select
        cast(source.account_id as bigint) as account_id,
        source.id as event_id,
        source.type as event_type,
        {{ singular_entity_type('source.entity_type') }} as entity_type,
        cast(source.entity_id as bigint) as entity_id,
        cast(source.created_by as bigint) as created_by,
        {{ from_unix('source.created_at') }} as created_at,
        {{ local_date(from_unix('source.created_at')) }} as created_date,
        cast(source.pipeline_id_before as bigint) as pipeline_id_before,
        cast(source.status_id_before as bigint) as status_id_before,
        cast(source.pipeline_id_after as bigint) as pipeline_id_after,
        cast(source.status_id_after as bigint) as status_id_after,
        cast(source.note_id as bigint) as note_id,
        source.message_id,
        cast(source.talk_id as bigint) as talk_id,
        source.message_origin,
        cast(source.linked_talk_contact_id as bigint) as linked_talk_contact_id,
        cast(source.nps_rate as integer) as nps_rate,
        cast(source.responsible_user_id_before as bigint) as responsible_user_id_before,
        cast(source.responsible_user_id_after as bigint) as responsible_user_id_after,
        source.value_before_json,
        source.value_after_json,
        source._dlt_load_id as load_id
    from source
    -- each account's dates in its own timezone
    inner join account on account.account_id = source.account_id
)

select * from renamed
