-- A lead's first response is its first outgoing touch at or after creation: never before it.
select account_id, lead_id, created_at, first_response_at
from {{ ref('int_lead_first_response') }}
where first_response_at < created_at
    or first_response_minutes < 0
