-- The ledger of the dlt loads each incremental model has read (see macros/incremental.sql). Rows are
-- written only by those models' post-hooks; this model just creates the empty table, and a
-- --full-refresh leaves it alone (full_refresh=false): each model resets its own rows when it is
-- fully refreshed.
{{
    config(
        materialized='incremental',
        full_refresh=false,
        on_schema_change='fail'
    )
}}

with ledger as (
    select
        cast(null as varchar) as model_name,
        cast(null as varchar) as load_id,
        cast(null as timestamp with time zone) as processed_at
    where false
)

select * from ledger
