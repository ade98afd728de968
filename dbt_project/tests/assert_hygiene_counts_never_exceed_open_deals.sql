-- Every hygiene count is a subset of the manager's open deals on that day.
select *
from {{ ref('fct_crm_hygiene') }}
where greatest(
        open_without_next_task, open_with_overdue_task, open_without_price, open_without_contact,
        open_missing_required, stuck_deals
    ) > open_deals
