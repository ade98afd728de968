{{ config(meta={'dagster': {'ref': {'name': 'fct_sales_kpi'}}}) }}
-- Deleted leads count in no KPI: every lead-based fact adds up to exactly the non-deleted leads.
with leads as (
    select * from {{ ref('fct_leads') }}
    where not is_deleted
),

checks as (
    select
        'fct_sales_kpi.leads_created' as measure,
        (select count(*) from leads) as expected,
        (select sum(leads_created) from {{ ref('fct_sales_kpi') }} where period_grain = 'day') as published

    union all

    select
        'fct_sales_kpi.deals_won',
        (select count(*) from leads where is_won and closed_date is not null),
        (select sum(deals_won) from {{ ref('fct_sales_kpi') }} where period_grain = 'day')

    union all

    select
        'fct_lost_deals.deals_lost',
        (select count(*) from leads where is_lost and closed_date is not null),
        (select sum(deals_lost) from {{ ref('fct_lost_deals') }} where period_grain = 'day')

    union all

    select
        'fct_funnel.lost_here',
        (select count(*) from leads where is_lost and lost_at_status_id is not null),
        (select sum(lost_here) from {{ ref('fct_funnel') }})

    union all

    select
        'fct_cac.new_customers',
        (select count(*) from leads where is_first_won_of_customer),
        (select sum(new_customers) from {{ ref('fct_cac') }})

    union all

    select
        'fct_forecast.open_deals',
        (select count(*) from leads where not is_won and not is_lost),
        (select sum(open_deals) from {{ ref('fct_forecast') }})
)

select *
from checks
where published is distinct from expected
    and not (expected = 0 and published is null)
