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

ranked as (
    select
        *,
        row_number() over (partition by account_id, customer_type, customer_id order by closed_at, lead_id) as won_number,
        count(*) over (partition by account_id, customer_type, customer_id) as won_deals
    from won_deals
),

final as (
    select
        account_id,
        customer_type,
        customer_id,
        lead_id as first_won_lead_id,
        closed_at as first_won_at,
        closed_date as first_won_date,
        cast(date_trunc('month', closed_date) as date) as first_won_month,
        channel,
        won_deals
    from ranked
    where won_number = 1
)

select * from final
