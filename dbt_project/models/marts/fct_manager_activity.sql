with activities as (
    select * from {{ ref('int_activities') }}
),

extraction as (
    select extracted_at from {{ ref('int_extraction') }}
),

meeting_types as (
    select task_type_id
    from {{ ref('stg_amocrm__task_types') }}
    where task_type_code = '{{ var("amocrm_meeting_task_code") }}'
),

-- Current owner and deletion flag of every entity an activity can hang on.
entities as (
    select 'lead' as entity_type, lead_id as entity_id, responsible_user_id, is_deleted
    from {{ ref('stg_amocrm__leads') }}
    union all
    select 'contact', contact_id, responsible_user_id, is_deleted
    from {{ ref('stg_amocrm__contacts') }}
    union all
    select 'company', company_id, responsible_user_id, is_deleted
    from {{ ref('stg_amocrm__companies') }}
),

-- Tasks and notes deleted in amoCRM: they leave its lists, so the warehouse keeps their last version;
-- only the deletion events say they are gone (amoCRM cannot restore them).
deleted_activities as (
    select 'task:' || entity_id as activity_id
    from {{ ref('stg_amocrm__events') }}
    where event_type = 'task_deleted'
    union
    select 'note:' || note_id
    from {{ ref('stg_amocrm__events') }}
    where event_type = 'common_note_deleted'
        and note_id is not null
),

attributed as (
    select
        activities.activity_date,
        coalesce(activities.user_id, entities.responsible_user_id) as manager_id,
        activities.activity_type,
        activities.direction,
        activities.call_seconds,
        activities.is_completed,
        activities.occurred_at,
        meeting_types.task_type_id is not null as is_meeting
    from activities
    left join entities
        on entities.entity_type = activities.entity_type
        and entities.entity_id = activities.entity_id
    left join meeting_types on meeting_types.task_type_id = activities.task_type_id
    anti join deleted_activities on deleted_activities.activity_id = activities.activity_id
    where not coalesce(entities.is_deleted, false)
        and activities.activity_date is not null
),

daily as (
    select
        attributed.activity_date,
        attributed.manager_id,
        count(*) filter (where activity_type = 'call' and direction = 'out') as calls_outgoing,
        count(*) filter (where activity_type = 'call' and direction = 'in') as calls_incoming,
        count(*) filter (where activity_type = 'call' and call_seconds > 0) as calls_connected,
        coalesce(sum(call_seconds) filter (where activity_type = 'call'), 0) as call_seconds,
        count(*) filter (where activity_type = 'task' and is_completed and is_meeting) as meetings_held,
        count(*) filter (where activity_type = 'task' and is_completed) as tasks_completed,
        count(*) filter (
            where activity_type = 'task' and not is_completed and occurred_at < extraction.extracted_at
        ) as tasks_overdue,
        count(*) filter (
            where activity_type = 'chat_message' or (activity_type = 'email' and direction = 'out')
        ) as messages_sent
    from attributed
    cross join extraction
    where attributed.manager_id is not null
    group by all
),

aggregated as (
    select
        period_grains.period_grain,
        {{ period_start('period_grains.period_grain', 'daily.activity_date') }} as period_start,
        daily.manager_id,
        sum(calls_outgoing) as calls_outgoing,
        sum(calls_incoming) as calls_incoming,
        sum(calls_connected) as calls_connected,
        sum(call_seconds) as call_seconds,
        sum(meetings_held) as meetings_held,
        sum(tasks_completed) as tasks_completed,
        sum(tasks_overdue) as tasks_overdue,
        sum(messages_sent) as messages_sent
    from daily
    cross join {{ period_grains() }}
    group by all
),

final as (
    select
        cast(period_grain as varchar) as period_grain,
        cast(period_start as date) as period_start,
        cast(manager_id as bigint) as manager_id,
        cast(calls_outgoing as bigint) as calls_outgoing,
        cast(calls_incoming as bigint) as calls_incoming,
        cast(calls_connected as bigint) as calls_connected,
        cast(call_seconds as bigint) as call_seconds,
        cast(meetings_held as bigint) as meetings_held,
        cast(tasks_completed as bigint) as tasks_completed,
        cast(tasks_overdue as bigint) as tasks_overdue,
        cast(messages_sent as bigint) as messages_sent
    from aggregated
    where calls_outgoing + calls_incoming + meetings_held + tasks_completed + tasks_overdue + messages_sent > 0
)

select * from final
