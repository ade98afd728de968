-- A won deal must have a close time: without it, it is in no period and its revenue is lost from the KPIs.
select account_id, lead_id, status_id, closed_at
from {{ ref('fct_leads') }}
where is_won
    and closed_at is null
