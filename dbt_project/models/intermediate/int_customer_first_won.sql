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

-- One group-by per customer, not a window sorting its deals: the first won deal by (closed_at,
-- lead_id) (both never null here, and lead_id unique in the account, so the first is exact).
firsts as (
    select
        account_id,
        customer_type,
        customer_id,
        arg_min(
            {'lead_id': lead_id, 'closed_at': closed_at, 'closed_date': closed_date, 'channel': channel},
            (closed_at, lead_id)
        ) as first_won,
        count(*) as won_deals
    from won_deals
    group by account_id, customer_type, customer_id
),

final as (
    select
        account_id,
        customer_type,
        customer_id,
        first_won.lead_id as first_won_lead_id,
        first_won.closed_at as first_won_at,
        first_won.closed_date as first_won_date,
        cast(date_trunc('month', first_won.closed_date) as date) as first_won_month,
        first_won.channel as channel,
        won_deals
    from firsts
)

select * from final
