with attributed as (
    -- which activity counts for whom, and why the others do not: int_activity_attribution
    select * from {{ ref('int_activity_attribution') }}
    where is_counted
),

extraction as (
    select account_id, extracted_at from {{ ref('int_extraction') }}
),

-- The activities counted per day and manager by kind first (a few kinds per day): the filtered counts
-- below then read a few thousand rows instead of evaluating each filter on every activity. The four
-- flags are grouped as one small integer (a null flag as false: every count below filters on a flag
-- being true): hashing one integer instead of four booleans over 5.6M activities cost a fifth less.
kinds as (
    select
        attributed.account_id,
        attributed.activity_date,
        attributed.manager_id,
        attributed.activity_type,
        attributed.direction,
        case when attributed.is_completed then 1 else 0 end
        + case when attributed.is_meeting then 2 else 0 end
        + case when attributed.call_seconds > 0 then 4 else 0 end
        + case
            when attributed.activity_type = 'task'
                and not attributed.is_completed
                and attributed.occurred_at < extraction.extracted_at
                then 8
            else 0
        end as flags,
        count(*) as activities,
        sum(attributed.call_seconds) as call_seconds
    from attributed
    inner join extraction on extraction.account_id = attributed.account_id
    group by all
),

kind_flags as (
    select
        * exclude (flags),
        flags & 1 = 1 as is_completed,
        flags & 2 = 2 as is_meeting,
        flags & 4 = 4 as is_connected,
        flags & 8 = 8 as is_overdue
    from kinds
),

daily as (
    select
        account_id,
        activity_date,
        manager_id,
        coalesce(sum(activities) filter (where activity_type = 'call' and direction = 'out'), 0) as calls_outgoing,
        coalesce(sum(activities) filter (where activity_type = 'call' and direction = 'in'), 0) as calls_incoming,
        coalesce(sum(activities) filter (where activity_type = 'call' and is_connected), 0) as calls_connected,
        coalesce(sum(call_seconds) filter (where activity_type = 'call'), 0) as call_seconds,
        coalesce(sum(activities) filter (where activity_type = 'task' and is_completed and is_meeting), 0) as meetings_held,
        coalesce(sum(activities) filter (where activity_type = 'task' and is_completed), 0) as tasks_completed,
        coalesce(sum(activities) filter (where is_overdue), 0) as tasks_overdue,
        coalesce(sum(activities) filter (
            where activity_type = 'chat_message' or (activity_type = 'email' and direction = 'out')
        ), 0) as messages_sent
    from kind_flags
    group by all
),

aggregated as (
    select
        daily.account_id,
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
        cast(account_id as bigint) as account_id,
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
