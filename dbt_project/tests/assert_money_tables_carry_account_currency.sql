{{ config(meta={'dagster': {'ref': {'name': 'fct_leads'}}}) }}
-- Every row of a table that holds money carries its own account's currency: money of accounts in
-- different currencies must never look alike (kpi-contract.md "Many accounts").
with accounts as (
    select account_id, currency from {{ ref('stg_amocrm__account') }}
),

money_rows as (
    {%- for table in ['fct_leads', 'fct_sales_kpi', 'fct_lost_deals', 'fct_cac', 'fct_plan_vs_fact', 'fct_forecast',
                      'fct_sales_by_dimension', 'sales_daily', 'lost_deals_monthly'] %}
    select distinct '{{ table }}' as table_name, account_id, currency from {{ ref(table) }}
    {{ 'union all' if not loop.last }}
    {%- endfor %}
)

select money_rows.*, accounts.currency as account_currency
from money_rows
left join accounts on accounts.account_id = money_rows.account_id
where accounts.currency is distinct from money_rows.currency
