{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        pre_hook="{% if is_incremental() %}delete from {{ this }} where snapshot_date >= {{ pipeline_daily_from_date() }}{% endif %}",
        post_hook="{{ record_processed_loads(upstream=pipeline_daily_upstream()) }}"
    )
}}

-- The open pipeline at the end of every day, rebuilt from the status history. Incremental by day: a run
-- recomputes the days from pipeline_daily_from_date() on (macros/pipeline_daily.sql: the last day built
-- before, and the creation day of every lead changed by the new dlt loads, since a lead's current price
-- and manager stand for all its past days); its pre-hook deletes those days first. Days before stay.

-- depends_on: {{ ref('int_processed_loads') }}
-- depends_on: {{ ref('stg_amocrm__leads') }}
-- depends_on: {{ ref('stg_amocrm__events') }}
-- depends_on: {{ source('raw_amocrm', 'deletions') }}

with calendar as (
    select account_id, first_day, last_day, as_of_limit, timezone from {{ ref('int_pipeline_calendar') }}
),

-- Deleted leads count on no day: "deleted leads are excluded from every KPI", and a lead deleted before
-- the warehouse first saw it is a stub without history, so "until its deletion" would depend on when
-- the extraction happened to run.
leads as (
    select account_id, lead_id, manager_id, price, created_date
    from {{ ref('fct_leads') }}
    where not is_deleted
),

bounds as (
    select
        calendar.account_id,
        -- one first day for every account (the pre-hook deletes from it), never before the account's own
        greatest({{ pipeline_daily_from_date() }}, calendar.first_day) as from_date,
        calendar.last_day as to_date,
        calendar.as_of_limit,
        calendar.timezone
    from calendar
),

-- Each day's "as of": the end of the day (next local midnight), or on the last day the extraction time
-- (or the newest status change, when later: see int_pipeline_calendar).
days as (
    select
        account_id,
        cast(unnest(generate_series(from_date, to_date, interval 1 day)) as date) as snapshot_date
    from bounds
),

days_as_of as (
    select
        days.account_id,
        days.snapshot_date,
        least(timezone(bounds.timezone, cast(days.snapshot_date + 1 as timestamp)), bounds.as_of_limit) as as_of
    from days
    inner join bounds on bounds.account_id = days.account_id
),

-- Stays in an active status, as local dates: a stay holds the lead at the end of day D when it was
-- entered on or before D and left after D (or not left).
open_stays as (
    select
        history.account_id,
        history.lead_id,
        history.pipeline_id,
        history.status_id,
        history.entered_at,
        {{ local_date('history.entered_at', 'bounds.timezone') }} as entered_date,
        -- the first day it no longer holds the lead (after the last day built when it was not left)
        coalesce({{ local_date('history.left_at', 'bounds.timezone') }}, bounds.to_date + 1) as left_date
    from {{ ref('int_lead_status_history') }} as history
    inner join bounds on bounds.account_id = history.account_id
    where history.status_id not in (142, 143)
        and (history.left_at is null or {{ local_date('history.left_at', 'bounds.timezone') }} > bounds.from_date)
),

lead_days as (
    select
        open_stays.account_id,
        days_as_of.snapshot_date,
        open_stays.pipeline_id,
        open_stays.status_id,
        leads.manager_id,
        leads.price,
        (epoch(days_as_of.as_of) - epoch(open_stays.entered_at)) / 3600.0 as hours_in_stage
    from open_stays
    inner join days_as_of
        on days_as_of.account_id = open_stays.account_id
        and days_as_of.snapshot_date >= open_stays.entered_date
        and days_as_of.snapshot_date < open_stays.left_date
    inner join leads
        on leads.account_id = open_stays.account_id
        and leads.lead_id = open_stays.lead_id
),

aggregated as (
    select
        lead_days.account_id,
        lead_days.snapshot_date,
        lead_days.pipeline_id,
        lead_days.status_id,
        lead_days.manager_id,
        count(*) as open_deals,
        sum(lead_days.price) as open_value,
        count(*) filter (where lead_days.hours_in_stage > thresholds.hours_p90) as stuck_deals
    from lead_days
    left join {{ ref('int_stage_stuck_thresholds') }} as thresholds
        on thresholds.account_id = lead_days.account_id
        and thresholds.pipeline_id = lead_days.pipeline_id
        and thresholds.status_id = lead_days.status_id
        and thresholds.threshold_date = lead_days.snapshot_date
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
