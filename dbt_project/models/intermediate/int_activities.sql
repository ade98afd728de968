{{
    config(
        materialized='incremental',
        unique_key=['account_id', 'activity_id'],
        row_key=['account_id', 'activity_id'],
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        pre_hook="{{ activities_add_talk_id() }}",
        post_hook="{{ record_processed_loads() }}"
    )
}}

-- depends_on: {{ ref('int_processed_loads') }}
{%- set new_loads = unprocessed_loads() %}

-- One row per raw record that can count as a manager activity. Only what never changes with other
-- tables is resolved here (the author as recorded, the date in the account timezone); who the
-- activity is attributed to when it has no author, whether its entity is deleted, whether a task is
-- a meeting or overdue are resolved by fct_manager_activity, so incremental runs equal a full refresh.

with notes as (
    select * from {{ ref('stg_amocrm__notes') }}
    where note_type in ('call_in', 'call_out', 'amomail_message')
        and load_id in {{ new_loads }}
),

events as (
    select * from {{ ref('stg_amocrm__events') }}
    where event_type = 'outgoing_chat_message'
        and load_id in {{ new_loads }}
),

tasks as (
    select * from {{ ref('stg_amocrm__tasks') }}
    where load_id in {{ new_loads }}
),

note_activities as (
    select
        account_id,
        'note:' || note_id as activity_id,
        'note' as source,
        case when note_type = 'amomail_message' then 'email' else 'call' end as activity_type,
        case
            when note_type = 'call_in' then 'in'
            when note_type = 'call_out' then 'out'
            when mail_income then 'in'
            when not mail_income then 'out'
        end as direction,
        coalesce(nullif(created_by, 0), responsible_user_id) as user_id,
        entity_type,
        entity_id,
        created_at as occurred_at,
        created_date as activity_date,
        case when note_type in ('call_in', 'call_out') then coalesce(call_duration, 0) end as call_seconds,
        cast(null as boolean) as is_completed,
        cast(null as bigint) as task_type_id,
        cast(null as bigint) as talk_id,
        load_id
    from notes
),

event_activities as (
    select
        account_id,
        'event:' || event_id as activity_id,
        'event' as source,
        'chat_message' as activity_type,
        'out' as direction,
        nullif(created_by, 0) as user_id,
        entity_type,
        entity_id,
        created_at as occurred_at,
        created_date as activity_date,
        cast(null as bigint) as call_seconds,
        cast(null as boolean) as is_completed,
        cast(null as bigint) as task_type_id,
        talk_id,
        load_id
    from events
),

task_activities as (
    select
        account_id,
        'task:' || task_id as activity_id,
        'task' as source,
        'task' as activity_type,
        cast(null as varchar) as direction,
        responsible_user_id as user_id,
        entity_type,
        entity_id,
        complete_till as occurred_at,
        complete_till_date as activity_date,
        cast(null as bigint) as call_seconds,
        is_completed,
        task_type_id,
        cast(null as bigint) as talk_id,
        load_id
    from tasks
),

activities as (
    select * from note_activities
    union all
    select * from event_activities
    union all
    select * from task_activities
)

select * from activities
