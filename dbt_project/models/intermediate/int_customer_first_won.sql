-- Incremental by changed rows (macros/changed_rows_incremental.sql): a run computes every customer's row
-- and writes only those that differ from the stored ones (delete+insert by customer).
{{
    config(
        materialized='incremental',
        unique_key=['account_id', 'customer_type', 'customer_id'],
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        pre_hook="{{ delete_vanished_keys(['account_id', 'customer_type', 'customer_id'], customer_first_won_keys()) }}",
        post_hook="{{ log_changed_rows() }}"
    )
}}

with won_deals as (
    {{ customer_won_deals() }}
),

-- The first won deal of each customer by (closed_at, lead_id), found by one group-by rather than a
-- window sorting every customer's deals: the pair packed into one exact hugeint key, closed_at in
-- whole microseconds times 2^64 plus the lead id (a bigint, so |lead_id| < 2^63 and the pair's order
-- is kept), then its row joined back.
firsts as (
    select
        account_id,
        customer_type,
        customer_id,
        arg_min(lead_id, cast(epoch_us(closed_at) as hugeint) * 18446744073709551616 + lead_id) as first_won_lead_id,
        count(*) as won_deals
    from won_deals
    group by account_id, customer_type, customer_id
),

final as (
    select
        firsts.account_id,
        firsts.customer_type,
        firsts.customer_id,
        firsts.first_won_lead_id,
        won_deals.closed_at as first_won_at,
        won_deals.closed_date as first_won_date,
        cast(date_trunc('month', won_deals.closed_date) as date) as first_won_month,
        won_deals.channel,
        firsts.won_deals
    from firsts
    inner join won_deals
        on won_deals.account_id = firsts.account_id
        and won_deals.lead_id = firsts.first_won_lead_id
)

{{ changed_rows('final', ['account_id', 'customer_type', 'customer_id']) }}
