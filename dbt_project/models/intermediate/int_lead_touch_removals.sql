-- The leads int_lead_touches removed a touch of (macros/lead_first_response_incremental.sql). Rows are
-- written only by int_lead_touches' pre-hook and deleted by int_lead_first_response's post-hook once it has
-- read their load; this model just creates the empty table, and a --full-refresh leaves it alone
-- (full_refresh=false), as int_processed_loads.
{{
    config(
        materialized='incremental',
        full_refresh=false,
        on_schema_change='fail'
    )
}}

with removals as (
    select
        cast(null as bigint) as account_id,
        cast(null as bigint) as lead_id,
        cast(null as varchar) as load_id
    where false
)

select * from removals
