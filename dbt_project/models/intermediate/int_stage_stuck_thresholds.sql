-- Per stage and day: the 90th percentile of the completed stays (int_lead_stage_stays) left in the
-- trailing 180 days ending that day (account timezone), the line past which an open deal is "stuck".
-- Days run from the warehouse's first lead creation to the extraction day; a stage with no completed
-- stay in the window has no threshold (null), and nothing is stuck there.
with stays as (
    select pipeline_id, status_id, left_date, hours_in_status
    from {{ ref('int_lead_stage_stays') }}
),

extraction as (
    select extracted_date from {{ ref('int_extraction') }}
),

first_day as (
    select min(created_date) as first_day from {{ ref('stg_amocrm__leads') }}
),

days as (
    select cast(unnest(generate_series(first_day.first_day, extraction.extracted_date, interval 1 day)) as date)
        as threshold_date
    from first_day
    cross join extraction
),

stages as (
    select distinct pipeline_id, status_id from stays
),

-- One probe row per stage and day (no hours) among the stays: the window ending at a probe's day
-- holds exactly the stays left in the 180 days up to it.
probes as (
    select stages.pipeline_id, stages.status_id, days.threshold_date as day, cast(null as double) as hours, true as is_probe
    from stages
    cross join days
),

stays_and_probes as (
    select pipeline_id, status_id, left_date as day, hours_in_status as hours, false as is_probe
    from stays
    union all
    select * from probes
),

windowed as (
    select
        pipeline_id,
        status_id,
        day,
        is_probe,
        count(hours) over stay_window as stays_in_window,
        quantile_cont(hours, 0.9) over stay_window as hours_p90
    from stays_and_probes
    window stay_window as (
        partition by pipeline_id, status_id
        order by day - date '1970-01-01'
        range between 179 preceding and current row
    )
),

final as (
    select
        pipeline_id,
        status_id,
        day as threshold_date,
        stays_in_window,
        cast(hours_p90 as double) as hours_p90
    from windowed
    where is_probe
)

select * from final
