{{ config(meta={'dagster': {'ref': {'name': 'fct_pipeline_daily'}}}) }}
-- On the last day, the open deals and their value per pipeline, stage and manager are those of the
-- leads fct_leads shows open there now (status history and current status agree).
with latest as (
    select daily.*
    from {{ ref('fct_pipeline_daily') }} as daily
    inner join {{ ref('int_pipeline_calendar') }} as calendar
        on calendar.account_id = daily.account_id
        and calendar.last_day = daily.snapshot_date
),

current_open as (
    select account_id, pipeline_id, status_id, manager_id, count(*) as open_deals, sum(price) as open_value
    from {{ ref('fct_leads') }}
    where not is_deleted
        and not is_won
        and not is_lost
        and created_at is not null
    group by all
)

select *
from latest
full outer join current_open using (account_id, pipeline_id, status_id, manager_id)
where latest.open_deals is distinct from current_open.open_deals
    or latest.open_value is distinct from current_open.open_value
