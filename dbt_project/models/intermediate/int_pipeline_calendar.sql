-- Per account: the days fct_pipeline_daily and the stuck thresholds cover, and the instant that stands
-- for "now" on the last of them. The last day is the extraction day, or a later one when the warehouse
-- holds status changes stamped after the load time (amoCRM's clock ahead of the loader's, a simulator
-- run ahead): the pipeline's last day then still shows every status the warehouse knows, as fct_leads
-- does. Days are the account's own (its timezone).
with extraction as (
    select account_id, extracted_at, extracted_date, timezone from {{ ref('int_extraction') }}
),

leads as (
    select account_id, min(created_date) as first_day
    from {{ ref('stg_amocrm__leads') }}
    group by account_id
),

changes as (
    select account_id, max(entered_at) as newest_change
    from {{ ref('int_lead_status_history') }}
    group by account_id
),

final as (
    select
        extraction.account_id,
        leads.first_day,
        greatest(extraction.extracted_date, {{ local_date('changes.newest_change', 'extraction.timezone') }}) as last_day,
        greatest(extraction.extracted_at, changes.newest_change) as as_of_limit,
        extraction.timezone
    from extraction
    left join leads on leads.account_id = extraction.account_id
    left join changes on changes.account_id = extraction.account_id
)

select * from final
