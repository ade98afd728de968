{{ config(severity='warn', meta={'dagster': {'ref': {'name': 'int_lead_status_history'}}}) }}
-- Informational: the last stay of every lead's status history is its current status. A mismatch means
-- status-change events are missing (e.g. older than the event log keeps), so the funnel and
-- lost-at-stage of that lead may be incomplete.
select
    leads.account_id,
    leads.lead_id,
    leads.pipeline_id,
    leads.status_id,
    history.pipeline_id as history_pipeline_id,
    history.status_id as history_status_id
from {{ ref('stg_amocrm__leads') }} as leads
inner join {{ ref('int_lead_status_history') }} as history
    on history.account_id = leads.account_id
    and history.lead_id = leads.lead_id
    and history.is_current
where history.pipeline_id is distinct from leads.pipeline_id
    or history.status_id is distinct from leads.status_id
