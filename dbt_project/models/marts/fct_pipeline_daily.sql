{{
    config(
        materialized='incremental',
        incremental_strategy='replace_rows',
        unique_key=['account_id', 'snapshot_date', 'pipeline_id', 'status_id', 'manager_id'],
        on_schema_change='fail',
        pre_hook="{% if is_incremental() %}delete from {{ this }} as daily where daily.snapshot_date >= {{ pipeline_daily_from_date() }} or exists (select 1 from ({{ pipeline_daily_moved_lines(pipeline_daily_from_date()) }}) as moved where moved.account_id = daily.account_id and moved.pipeline_id = daily.pipeline_id and moved.status_id = daily.status_id and moved.snapshot_date = daily.snapshot_date){% endif %}",
        post_hook=[
            "delete from {{ this }} where open_deals = 0",
            "{{ record_processed_loads(upstream=['int_pipeline_daily_stays']) }}",
            "delete from {{ ref('int_pipeline_daily_stays') }} where is_superseded",
            "update {{ ref('int_pipeline_daily_stays') }} set is_new = false where is_new"
        ]
    )
}}

-- The open pipeline at the end of every day, from the stays of int_pipeline_daily_stays. Incremental
-- (macros/pipeline_daily.sql): every day from pipeline_daily_from_date() on (the last day built before)
-- and the stage-days whose stuck line moved are recomputed in full (the pre-hook deletes their rows
-- first, so that a row left with no open deal goes too); on the other days, each row a changed lead was
-- or is in gets the lead's old share subtracted and its new share added (the replace_rows strategy
-- swaps those rows; a row left at zero deals is deleted by the post-hook). So it equals a full rebuild.
-- The post-hook then drops the superseded stays it subtracted and marks the new ones counted. Every row,
-- join and key is per account (account_id), each account on its own calendar and timezone.

-- depends_on: {{ ref('int_processed_loads') }}

{%- set from_date = pipeline_daily_from_date() %}

with calendar as (
    select account_id, first_day, last_day, as_of_limit, timezone from {{ ref('int_pipeline_calendar') }}
),

bounds as (
    select
        calendar.account_id,
        -- one first day for every account (the pre-hook deletes from it), never before the account's own
        greatest({{ from_date }}, calendar.first_day) as from_date,
        calendar.first_day,
        calendar.last_day as to_date,
        calendar.as_of_limit,
        calendar.timezone
    from calendar
),

-- Each day's "as of": the end of the day (next local midnight), or on the last day the extraction time
-- (or the newest status change, when later: see int_pipeline_calendar).
all_days as (
    select
        account_id,
        cast(unnest(generate_series(first_day, to_date, interval 1 day)) as date) as snapshot_date
    from bounds
),

days_as_of as (
    select
        all_days.account_id,
        all_days.snapshot_date,
        least(timezone(bounds.timezone, cast(all_days.snapshot_date + 1 as timestamp)), bounds.as_of_limit) as as_of
    from all_days
    inner join bounds on bounds.account_id = all_days.account_id
),

-- the stage-days before from_date whose stuck line moved (none in a full build)
moved_lines as (
    {{ pipeline_daily_moved_lines(from_date) }}
),

-- Stays in an active status: deleted leads count on no day ("deleted leads are excluded from every
-- KPI", and a lead deleted before the warehouse first saw it is a stub without history, so "until its
-- deletion" would depend on when the extraction happened to run). A stay holds the lead at the end of
-- day D when it was entered on or before D and left after D (or not left).
stays as not materialized (
    select
        account_id,
        lead_id,
        pipeline_id,
        status_id,
        manager_id,
        price,
        entered_at,
        entered_date,
        left_date,
        is_new,
        is_superseded
    from {{ ref('int_pipeline_daily_stays') }}
    where not is_deleted
),

-- Each stage's moved lines as runs of consecutive days (a day minus its rank is constant along a run):
-- the stays are expanded over exactly the runs they overlap, so that no stay-day outside a moved
-- stage-day is made and then filtered out (a stage's moved days are mostly one run, ~4M stay-days).
moved_spans as (
    select account_id, pipeline_id, status_id, min(snapshot_date) as first_moved, max(snapshot_date) as last_moved
    from (
        select
            account_id,
            pipeline_id,
            status_id,
            snapshot_date,
            snapshot_date - cast(row_number() over (
                partition by account_id, pipeline_id, status_id order by snapshot_date
            ) as integer) as run_key
        from moved_lines
    ) as numbered
    group by account_id, pipeline_id, status_id, run_key
),

-- Current stays on the days recomputed in full: from from_date on, and the moved stage-days. Each stay
-- is expanded into its days (generate_series) rather than joined to the calendar on a range: a range
-- join next to the account_id equality compares every stay with every day (a billion pairs at a million
-- leads), while the stays that reach from_date are few (the open ones and those left since).
recomputed_days as (
    select
        stays.account_id,
        cast(unnest(generate_series(greatest(stays.entered_date, bounds.from_date),
                                    least(coalesce(stays.left_date, bounds.to_date + 1), bounds.to_date + 1) - 1,
                                    interval 1 day)) as date) as snapshot_date,
        stays.pipeline_id,
        stays.status_id,
        stays.manager_id,
        stays.price,
        stays.entered_at,
        1 as sign
    from stays
    inner join bounds on bounds.account_id = stays.account_id
    where not stays.is_superseded
        and (stays.left_date is null or stays.left_date > {{ from_date }})
    union all
    select
        stay_days.account_id,
        stay_days.snapshot_date,
        stay_days.pipeline_id,
        stay_days.status_id,
        stay_days.manager_id,
        stay_days.price,
        stay_days.entered_at,
        1 as sign
    from (
        select
            stays.account_id,
            cast(unnest(generate_series(greatest(stays.entered_date, moved_spans.first_moved),
                                        least(coalesce(stays.left_date, date '9999-12-31') - 1, moved_spans.last_moved),
                                        interval 1 day)) as date) as snapshot_date,
            stays.pipeline_id,
            stays.status_id,
            stays.manager_id,
            stays.price,
            stays.entered_at
        from stays
        inner join moved_spans
            on moved_spans.account_id = stays.account_id
            and moved_spans.pipeline_id = stays.pipeline_id
            and moved_spans.status_id = stays.status_id
        where not stays.is_superseded
            and stays.entered_date <= moved_spans.last_moved
            and coalesce(stays.left_date, date '9999-12-31') > moved_spans.first_moved
    ) as stay_days
),

{%- if is_incremental() %}

-- The other days before from_date: a changed lead's superseded stays (which ran to the last day built
-- when not left) take their share away, its new stays add theirs.
changed_days as (
    select
        stay_days.account_id,
        stay_days.snapshot_date,
        stay_days.pipeline_id,
        stay_days.status_id,
        stay_days.manager_id,
        stay_days.price,
        stay_days.entered_at,
        stay_days.sign
    from (
        select
            stays.account_id,
            cast(unnest(generate_series(greatest(stays.entered_date, bounds.first_day),
                                        least(coalesce(stays.left_date, bounds.from_date), bounds.from_date) - 1,
                                        interval 1 day)) as date) as snapshot_date,
            stays.pipeline_id,
            stays.status_id,
            stays.manager_id,
            stays.price,
            stays.entered_at,
            case when stays.is_superseded then -1 else 1 end as sign
        -- the superseded and new stays (of leads not deleted), each flag its own pushed-down scan
        from ({{ pipeline_daily_changed_stays('not is_deleted') }}) as stays
        inner join bounds on bounds.account_id = stays.account_id
    ) as stay_days
    anti join moved_lines
        on moved_lines.account_id = stay_days.account_id
        and moved_lines.pipeline_id = stay_days.pipeline_id
        and moved_lines.status_id = stay_days.status_id
        and moved_lines.snapshot_date = stay_days.snapshot_date
),
{%- endif %}

lead_days as (
    select
        stay_days.account_id,
        stay_days.snapshot_date,
        stay_days.pipeline_id,
        stay_days.status_id,
        stay_days.manager_id,
        stay_days.price,
        stay_days.sign,
        (epoch(days_as_of.as_of) - epoch(stay_days.entered_at)) / 3600.0 as hours_in_stage
    from (
        select * from recomputed_days
        {%- if is_incremental() %}
        union all
        select * from changed_days
        {%- endif %}
    ) as stay_days
    inner join days_as_of
        on days_as_of.account_id = stay_days.account_id
        and days_as_of.snapshot_date = stay_days.snapshot_date
),

shares as (
    select
        lead_days.account_id,
        lead_days.snapshot_date,
        lead_days.pipeline_id,
        lead_days.status_id,
        lead_days.manager_id,
        sum(lead_days.sign) as open_deals,
        sum(lead_days.sign * lead_days.price) as open_value,
        coalesce(sum(lead_days.sign) filter (where lead_days.hours_in_stage > thresholds.hours_p90), 0) as stuck_deals
    from lead_days
    left join {{ ref('int_stage_stuck_thresholds') }} as thresholds
        on thresholds.account_id = lead_days.account_id
        and thresholds.pipeline_id = lead_days.pipeline_id
        and thresholds.status_id = lead_days.status_id
        and thresholds.threshold_date = lead_days.snapshot_date
    group by all
),

{%- if is_incremental() %}

-- the rows built before that a changed lead's share goes into or out of (their new value is the sum)
kept as (
    select daily.account_id, daily.snapshot_date, daily.pipeline_id, daily.status_id, daily.manager_id,
        daily.open_deals, daily.open_value, daily.stuck_deals
    from {{ this }} as daily
    semi join shares
        on shares.account_id = daily.account_id
        and shares.snapshot_date = daily.snapshot_date
        and shares.pipeline_id = daily.pipeline_id
        and shares.status_id = daily.status_id
        and shares.manager_id is not distinct from daily.manager_id
    where daily.snapshot_date < {{ from_date }}
),
{%- endif %}

aggregated as (
    select
        account_id,
        snapshot_date,
        pipeline_id,
        status_id,
        manager_id,
        sum(open_deals) as open_deals,
        sum(open_value) as open_value,
        sum(stuck_deals) as stuck_deals
    from (
        select * from shares
        {%- if is_incremental() %}
        union all
        select * from kept
        {%- endif %}
    ) as parts
    group by all
),

final as (
    select
        cast(account_id as bigint) as account_id,
        cast(snapshot_date as date) as snapshot_date,
        cast(pipeline_id as bigint) as pipeline_id,
        cast(status_id as bigint) as status_id,
        cast(manager_id as bigint) as manager_id,
        cast(open_deals as bigint) as open_deals,
        cast(open_value as decimal(18, 2)) as open_value,
        cast(stuck_deals as bigint) as stuck_deals
    from aggregated
)

select * from final
