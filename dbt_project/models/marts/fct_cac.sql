-- Spend rows come with their channel resolved: one keyed by a source's name counts for its id.
with spend as (
    select account_id, month, channel, sum(amount) as marketing_spend
    from {{ ref('int_marketing_spend') }}
    group by all
),

sources as (
    select account_id, cast(source_id as varchar) as channel, source_name from {{ ref('int_lead_sources') }}
),

account as (
    select account_id, currency from {{ ref('stg_amocrm__account') }}
),

new_customers as (
    select account_id, first_won_month as month, channel, count(*) as new_customers
    from {{ ref('int_customer_first_won') }}
    group by all
),

joined as (
    select
        coalesce(spend.account_id, new_customers.account_id) as account_id,
        coalesce(spend.month, new_customers.month) as month,
        coalesce(spend.channel, new_customers.channel) as channel,
        spend.marketing_spend,
        coalesce(new_customers.new_customers, 0) as new_customers
    from spend
    full outer join new_customers
        on new_customers.account_id = spend.account_id
        and new_customers.month = spend.month
        and new_customers.channel = spend.channel
),

-- a channel that is an amoCRM source id gets the source's name beside it
named as (
    select
        joined.*,
        account.currency,
        sources.source_name
    from joined
    inner join account on account.account_id = joined.account_id
    left join sources
        on sources.account_id = joined.account_id
        and sources.channel = joined.channel
),

final as (
    select
        cast(account_id as bigint) as account_id,
        cast(currency as varchar) as currency,
        cast(month as date) as month,
        cast(channel as varchar) as channel,
        cast(source_name as varchar) as source_name,
        cast(marketing_spend as decimal(18, 2)) as marketing_spend,
        cast(new_customers as bigint) as new_customers,
        {{ money_divide('marketing_spend', 'new_customers') }} as cac
    from named
)

select * from final
