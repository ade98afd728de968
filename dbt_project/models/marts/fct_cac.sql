with spend as (
    select month, channel, sum(amount) as marketing_spend
    from {{ ref('stg_inputs__marketing_spend') }}
    group by all
),

new_customers as (
    select first_won_month as month, channel, count(*) as new_customers
    from {{ ref('int_customer_first_won') }}
    group by all
),

joined as (
    select
        coalesce(spend.month, new_customers.month) as month,
        coalesce(spend.channel, new_customers.channel) as channel,
        spend.marketing_spend,
        coalesce(new_customers.new_customers, 0) as new_customers
    from spend
    full outer join new_customers
        on new_customers.month = spend.month
        and new_customers.channel = spend.channel
),

final as (
    select
        cast(month as date) as month,
        cast(channel as varchar) as channel,
        cast(marketing_spend as decimal(18, 2)) as marketing_spend,
        cast(new_customers as bigint) as new_customers,
        {{ money_divide('marketing_spend', 'new_customers') }} as cac
    from joined
)

select * from final
