{%- set fields = var('amocrm_breakdown_fields') %}
{%- if fields is string %}{% set fields = [fields] %}{% endif %}
{%- set fields = (fields or []) | reject('none') | map('string') | map('trim') | reject('equalto', '') | unique | list %}

with leads as (
    select account_id, currency, lead_id, pipeline_id, created_date, closed_date, is_won, is_lost, price, channel
    from {{ ref('fct_leads') }}
    where not is_deleted
),

tags as (
    select distinct account_id, lead_id, nullif(trim(tag_name), '') as tag_name
    from {{ ref('stg_amocrm__lead_tags') }}
),

field_values as (
    select account_id, lead_id, field_id, field_name, field_code, nullif(trim(value), '') as value
    from {{ ref('stg_amocrm__lead_custom_field_values') }}
),

-- Every lead under each value it has of each dimension (several tags or a multi-select: under each);
-- a lead with none counts under 'not specified'.
lead_values as (
    select leads.account_id, leads.lead_id, 'tag' as dimension, coalesce(tags.tag_name, 'not specified') as dimension_value
    from leads
    left join tags
        on tags.account_id = leads.account_id
        and tags.lead_id = leads.lead_id

    union all

    select account_id, lead_id, 'channel', channel
    from leads
    {%- for field in fields %}

    union all

    select leads.account_id, leads.lead_id, '{{ field | replace("'", "''") }}', coalesce(chosen.value, 'not specified')
    from leads
    left join (
        select distinct account_id, lead_id, value
        from field_values
        where {{ custom_field_matches(field) }}
            and value is not null
    ) as chosen
        on chosen.account_id = leads.account_id
        and chosen.lead_id = leads.lead_id
    {%- endfor %}
),

-- As in fct_sales_kpi: a lead counts on the day it was created and, once closed, on the day it closed.
lead_days as (
    select account_id, currency, created_date as local_day, lead_id, pipeline_id, 1 as leads_created, 0 as deals_won, 0 as deals_lost,
        0 as revenue_won
    from leads

    union all

    select account_id, currency, closed_date, lead_id, pipeline_id, 0, case when is_won then 1 else 0 end, case when is_lost then 1 else 0 end,
        case when is_won then price else 0 end
    from leads
    where (is_won or is_lost)
        and closed_date is not null
),

-- Summed per day first (many leads share a day and a value), then rolled up to the three grains: the
-- same sums (integers and decimals, exact) as grouping the lead rows per grain, from far fewer rows.
daily as (
    select
        lead_days.account_id,
        lead_days.currency,
        lead_days.local_day,
        lead_days.pipeline_id,
        lead_values.dimension,
        lead_values.dimension_value,
        sum(lead_days.leads_created) as leads_created,
        sum(lead_days.deals_won) as deals_won,
        sum(lead_days.revenue_won) as revenue_won,
        sum(lead_days.deals_lost) as deals_lost
    from lead_days
    inner join lead_values
        on lead_values.account_id = lead_days.account_id
        and lead_values.lead_id = lead_days.lead_id
    group by all
),

aggregated as (
    select
        daily.account_id,
        daily.currency,
        period_grains.period_grain,
        {{ period_start('period_grains.period_grain', 'daily.local_day') }} as period_start,
        daily.pipeline_id,
        daily.dimension,
        daily.dimension_value,
        sum(daily.leads_created) as leads_created,
        sum(daily.deals_won) as deals_won,
        sum(daily.revenue_won) as revenue_won,
        sum(daily.deals_lost) as deals_lost
    from daily
    cross join {{ period_grains() }}
    group by all
),

final as (
    select
        cast(account_id as bigint) as account_id,
        cast(currency as varchar) as currency,
        cast(period_grain as varchar) as period_grain,
        cast(period_start as date) as period_start,
        cast(pipeline_id as bigint) as pipeline_id,
        cast(dimension as varchar) as dimension,
        cast(dimension_value as varchar) as dimension_value,
        cast(leads_created as bigint) as leads_created,
        cast(deals_won as bigint) as deals_won,
        cast(revenue_won as decimal(18, 2)) as revenue_won,
        cast(deals_lost as bigint) as deals_lost
    from aggregated
)

select * from final
