-- The days fct_pipeline_daily and the stuck thresholds cover, and the instant that stands for "now" on
-- the last of them. The last day is the extraction day, or a later one when the warehouse holds status
-- changes stamped after the load time (amoCRM's clock ahead of the loader's, a simulator run ahead):
-- the pipeline's last day then still shows every status the warehouse knows, as fct_leads does.
with extraction as (
    select extracted_at, extracted_date, timezone from {{ ref('int_extraction') }}
),

leads as (
    select min(created_date) as first_day from {{ ref('stg_amocrm__leads') }}
),

changes as (
    select max(entered_at) as newest_change from {{ ref('int_lead_status_history') }}
),

final as (
    select
        leads.first_day,
        greatest(extraction.extracted_date, {{ local_date('changes.newest_change', 'extraction.timezone') }}) as last_day,
        greatest(extraction.extracted_at, changes.newest_change) as as_of_limit,
        extraction.timezone
    from extraction
    cross join leads
    cross join changes
)

select * from final
