{{
    config(
        materialized='incremental',
        unique_key=['account_id', 'activity_id'],
        row_key=['account_id', 'activity_id'],
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        pre_hook="{{ attribution_prepare_recompute_all() }}",
        post_hook="{{ record_processed_loads(upstream=attribution_upstream()) }}"
    )
}}

-- The one place that decides which activity counts for which manager: every row of int_activities,
-- with the lead it is about, the manager it counts for and, when it does not count, why
-- (exclusion_reason). fct_manager_activity sums the rows with no exclusion reason.
-- Incremental by activity: a run recomputes only the activities the new dlt loads can have changed
-- (macros/activity_attribution.sql; the rule is in the model's YAML), so it equals a full rebuild.

-- depends_on: {{ ref('int_processed_loads') }}
-- depends_on: {{ source('raw_amocrm', 'contacts') }}
-- depends_on: {{ source('raw_amocrm', 'companies') }}
-- depends_on: {{ source('raw_amocrm', 'deletions') }}
{%- set new_loads = unprocessed_loads(upstream=attribution_upstream()) %}
{%- set incremental = is_incremental() and not attribution_recompute_all() %}

with meeting_types as (
    select account_id, task_type_id
    from {{ ref('stg_amocrm__task_types') }}
    where task_type_code = '{{ var("amocrm_meeting_task_code") }}'
),

-- not materialized: each use reads only its own columns and rows (a new load, a talk)
chat_events as not materialized (
    select
        account_id,
        event_type,
        entity_type,
        entity_id,
        created_at,
        talk_id,
        load_id
    from {{ ref('stg_amocrm__events') }}
    where event_type in ('incoming_chat_message', 'outgoing_chat_message')
),

{%- if incremental %}

-- The activities whose row may change: those of the new loads, those a new deletion event names, and
-- those of the previous build that hang on a changed entity, sit in a talk with a new chat message or
-- whose task type became or stopped being a meeting. Each changed set is computed once (materialized)
-- and the previous rows are matched to every set by its key (changed_previous).
changed_entities as materialized (
    {{ attribution_changed_entities(new_loads) }}
),

changed_talks as materialized (
    select distinct account_id, talk_id
    from chat_events
    where load_id in {{ new_loads }}
        and talk_id is not null
),

-- The previous build's rows that match one of the changed sets, as row ids: one semi join per set, each
-- reading only its own key columns of {{ this }} (a scan of ints), then the activity ids (strings) of the
-- few matched rows only. Semi joins, not left joins: four left joins each carried all 5.7M rows on the
-- 1M-lead account (~0.5 CPU s); the semi joins keep only matches (~0.15 s). Not `in` subqueries: on a
-- nullable column such as talk_id that is a mark join, very slow on 5M rows. A row matched by two sets
-- is read once (`rowid in`).
changed_previous as (
    select account_id, activity_id
    from {{ this }}
    where rowid in (
        select previous.rowid
        from {{ this }} as previous
        semi join changed_entities as by_entity
            on by_entity.account_id = previous.account_id
            and by_entity.entity_type = previous.entity_type
            and by_entity.entity_id = previous.entity_id
        union all
        select previous.rowid
        from {{ this }} as previous
        semi join changed_entities as by_lead
            on by_lead.entity_type = 'lead'
            and by_lead.account_id = previous.account_id
            and by_lead.entity_id = previous.lead_id
        union all
        select previous.rowid
        from {{ this }} as previous
        semi join changed_talks
            on changed_talks.account_id = previous.account_id
            and changed_talks.talk_id = previous.talk_id
        union all
        -- a task whose type became or stopped being a meeting
        select previous.rowid
        from {{ this }} as previous
        left join meeting_types
            on meeting_types.account_id = previous.account_id
            and meeting_types.task_type_id = previous.task_type_id
        where previous.task_type_id is not null
            and previous.is_meeting <> (meeting_types.task_type_id is not null)
    )
),

changed_activities as (
    select account_id, activity_id from {{ ref('int_activities') }} where load_id in {{ new_loads }}
    union
    select account_id, 'task:' || entity_id
    from {{ ref('stg_amocrm__events') }}
    where event_type = 'task_deleted'
        and load_id in {{ new_loads }}
    union
    select account_id, 'note:' || note_id
    from {{ ref('stg_amocrm__events') }}
    where event_type = 'common_note_deleted'
        and note_id is not null
        and load_id in {{ new_loads }}
    union
    select account_id, activity_id from changed_previous
),

-- The changed activities' rows: first their row ids, joining only the two key columns of the 5M activities,
-- then every column of the matched rows only. A semi join straight on the table read all its columns for
-- every row before the join dropped them (1M leads, a daily build's select: 1.22 -> 1.02 CPU s, one thread).
activities as (
    select *
    from {{ ref('int_activities') }}
    where rowid in (
        select current_activity.rowid
        from {{ ref('int_activities') }} as current_activity
        semi join changed_activities using (account_id, activity_id)
    )
),
{%- else %}

activities as (
    select * from {{ ref('int_activities') }}
),
{%- endif %}

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
-- Only a message served on a contact uses it (located): an incremental run looks up only those talks,
-- and scans no chat events at all on a day with no such message.
talk_entities as (
    select
        account_id,
        talk_id,
        arg_max(entity_type, created_at) as talk_entity_type,
        arg_max(entity_id, created_at) as talk_entity_id
    from chat_events
    where entity_type in ('lead', 'customer')
        and talk_id is not null
        {%- if incremental %}
        and (account_id, talk_id) in (
            select account_id, talk_id
            from activities
            where source = 'event'
                and entity_type = 'contact'
                and talk_id is not null
        )
        {%- endif %}
    group by account_id, talk_id
),

-- The entity each activity is about: a chat message's talk entity when it was served on a contact.
-- A chat message's talk_id is its event's, stored in int_activities.
located as (
    select
        activities.*,
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
    left join talk_entities
        on talk_entities.account_id = activities.account_id
        and talk_entities.talk_id = activities.talk_id
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
        located.task_type_id,
        -- who performed it; a record naming nobody goes to its entity's current owner
        coalesce(located.user_id, entities.responsible_user_id) as candidate_manager_id,
        case
            when deleted_activities.activity_id is not null then 'deleted_activity'
            -- int_activities' user_id of a chat message: its event's created_by, null for 0 (robot)
            when located.source = 'event' and located.user_id is null then 'robot_message'
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
        exclusion_reason is null as is_counted,
        -- last: a table built before the model was incremental gets it appended (its pre-hook)
        task_type_id,
        -- which build recomputed the row, for the models that follow it by activity (int_lead_touches)
        {{ attribution_stamp() }} as attributed_load_id
    from attributed
)

select * from final
