{{ config(severity='warn', meta={'dagster': {'ref': {'name': 'fct_leads'}}}) }}
-- Informational: every live lead's current (pipeline, status) is a known pipeline status, so it shows up in
-- dim_pipeline_stages joins.
select leads.account_id, leads.lead_id, leads.pipeline_id, leads.status_id
from {{ ref('fct_leads') }} as leads
left join {{ ref('dim_pipeline_stages') }} as stages
    on stages.account_id = leads.account_id
    and stages.pipeline_id = leads.pipeline_id
    and stages.status_id = leads.status_id
where stages.status_id is null
    and not leads.is_deleted
