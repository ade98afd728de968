with won_deals as (
    select
        account_id,
        lead_id,
        closed_at,
        closed_date,
        channel,
        case when company_id is not null then 'company' else 'contact' end as customer_type,
        coalesce(company_id, main_contact_id) as customer_id
    from {{ ref('stg_amocrm__leads') }}
    where not is_deleted
        and status_id = 142
        and closed_at is not null
        and coalesce(company_id, main_contact_id) is not null
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

select * from final
