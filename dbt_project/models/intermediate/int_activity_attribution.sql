-- The one place that decides which activity counts for which manager: every row of int_activities,
-- with the lead it is about, the manager it counts for and, when it does not count, why
-- (exclusion_reason). fct_manager_activity sums the rows with no exclusion reason.

with activities as (
    select * from {{ ref('int_activities') }}
),

meeting_types as (
    select account_id, task_type_id
    from {{ ref('stg_amocrm__task_types') }}
    where task_type_code = '{{ var("amocrm_meeting_task_code") }}'
),

chat_events as (
    select
        account_id,
        event_id,
        event_type,
        entity_type,
        entity_id,
        created_by,
        created_at,
        talk_id
    from {{ ref('stg_amocrm__events') }}
    where event_type in ('incoming_chat_message', 'outgoing_chat_message')
),

-- Current owner and deletion flag of every entity an activity can hang on.
entities as (
    select account_id, 'lead' as entity_type, lead_id as entity_id, responsible_user_id, is_deleted
    from {{ ref('stg_amocrm__leads') }}
    union all
    select account_id, 'contact', contact_id, responsible_user_id, is_deleted
    from {{ ref('stg_amocrm__contacts') }}
    union all
    select account_id, 'company', company_id, responsible_user_id, is_deleted
    from {{ ref('stg_amocrm__companies') }}
),

-- Tasks and notes deleted in amoCRM: they leave its lists, so the warehouse keeps their last version;
-- only the deletion events say they are gone (amoCRM cannot restore them).
deleted_activities as (
    select account_id, 'task:' || entity_id as activity_id
    from {{ ref('stg_amocrm__events') }}
    where event_type = 'task_deleted'
    union
    select account_id, 'note:' || note_id
    from {{ ref('stg_amocrm__events') }}
    where event_type = 'common_note_deleted'
        and note_id is not null
),

-- The lead or customer of each talk, from its messages served while that entity lived: amoCRM serves
-- a deleted lead's messages as its contact's, and the talk is then the only link back (latest wins).
talk_entities as (
    select
        account_id,
        talk_id,
        arg_max(entity_type, created_at) as talk_entity_type,
        arg_max(entity_id, created_at) as talk_entity_id
    from chat_events
    where entity_type in ('lead', 'customer')
        and talk_id is not null
    group by account_id, talk_id
),

-- The entity each activity is about: a chat message's talk entity when it was served on a contact.
located as (
    select
        activities.*,
        chat_events.talk_id,
        chat_events.created_by as event_created_by,
        case
            when activities.source = 'event' and activities.entity_type = 'contact'
                then coalesce(talk_entities.talk_entity_type, 'unknown')
            else activities.entity_type
        end as about_type,
        case
            when activities.source = 'event' and activities.entity_type = 'contact'
                then talk_entities.talk_entity_id
            else activities.entity_id
        end as about_id
    from activities
    left join chat_events
        on activities.source = 'event'
        and chat_events.account_id = activities.account_id
        and 'event:' || chat_events.event_id = activities.activity_id
    left join talk_entities
        on talk_entities.account_id = chat_events.account_id
        and talk_entities.talk_id = chat_events.talk_id
),

attributed as (
    select
        located.account_id,
        located.activity_id,
        located.source,
        located.activity_type,
        located.direction,
        located.entity_type,
        located.entity_id,
        located.talk_id,
        case when located.about_type = 'lead' then located.about_id end as lead_id,
        located.occurred_at,
        located.activity_date,
        located.call_seconds,
        located.is_completed,
        meeting_types.task_type_id is not null as is_meeting,
        -- who performed it; a record naming nobody goes to its entity's current owner
        coalesce(located.user_id, entities.responsible_user_id) as candidate_manager_id,
        case
            when deleted_activities.activity_id is not null then 'deleted_activity'
            when located.source = 'event' and coalesce(located.event_created_by, 0) = 0 then 'robot_message'
            when located.about_type = 'lead' and entities.is_deleted then 'deleted_lead'
            when entities.is_deleted then 'deleted_entity'
            when located.about_type = 'unknown' then 'talk_lead_unknown'
            when located.activity_date is null then 'no_date'
            when coalesce(located.user_id, entities.responsible_user_id) is null then 'no_manager'
        end as exclusion_reason
    from located
    left join entities
        on entities.account_id = located.account_id
        and entities.entity_type = located.about_type
        and entities.entity_id = located.about_id
    left join meeting_types
        on meeting_types.account_id = located.account_id
        and meeting_types.task_type_id = located.task_type_id
    left join deleted_activities
        on deleted_activities.account_id = located.account_id
        and deleted_activities.activity_id = located.activity_id
),

final as (
    select
        account_id,
        activity_id,
        source,
        activity_type,
        direction,
        entity_type,
        entity_id,
        talk_id,
        lead_id,
        occurred_at,
        activity_date,
        call_seconds,
        is_completed,
        is_meeting,
        case when exclusion_reason is null then candidate_manager_id end as manager_id,
        exclusion_reason,
        exclusion_reason is null as is_counted
    from attributed
)

select * from final
