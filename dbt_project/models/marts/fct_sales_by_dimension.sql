{%- set fields = var('amocrm_breakdown_fields') %}
{%- if fields is string %}{% set fields = [fields] %}{% endif %}
{%- set fields = (fields or []) | reject('none') | map('string') | map('trim') | reject('equalto', '') | unique | list %}

-- leads is read by every dimension below: computed once
with leads as materialized (
    select account_id, lead_id, pipeline_id, created_date, closed_date, is_won, is_lost, price, channel
    from {{ ref('fct_leads') }}
    where not is_deleted
),

account as (
    select account_id, currency from {{ ref('stg_amocrm__account') }}
),

tags as (
    select distinct account_id, lead_id, nullif(trim(tag_name), '') as tag_name
    from {{ ref('stg_amocrm__lead_tags') }}
),

field_values as (
    select account_id, lead_id, field_id, field_name, field_code, nullif(trim(value), '') as value
    from {{ ref('stg_amocrm__lead_custom_field_values') }}
),

-- Every lead under each value it has of each dimension (several tags or a multi-select: under each;
-- a lead with none counts under 'not specified'), one relation per dimension carrying the lead's measures.
by_tag as (
    select leads.*, coalesce(tags.tag_name, 'not specified') as dimension_value
    from leads
    left join tags
        on tags.account_id = leads.account_id
        and tags.lead_id = leads.lead_id
),

by_channel as (
    select leads.*, leads.channel as dimension_value
    from leads
),
{%- for field in fields %}

by_field_{{ loop.index }} as (
    select leads.*, coalesce(chosen.value, 'not specified') as dimension_value
    from leads
    left join (
        select distinct account_id, lead_id, value
        from field_values
        where {{ custom_field_matches(field) }}
            and value is not null
    ) as chosen
        on chosen.account_id = leads.account_id
        and chosen.lead_id = leads.lead_id
),
{%- endfor %}

-- As in fct_sales_kpi: a lead counts on the day it was created and, once closed, on the day it closed.
-- Each dimension is summed per day on its own (created and closed sides apart): several small
-- group-bys instead of one over every lead x value x side, then the few day rows are merged.
{%- set dimensions = [('tag', 'by_tag'), ('channel', 'by_channel')] %}
{%- for field in fields %}{% do dimensions.append((field, 'by_field_' ~ loop.index)) %}{% endfor %}
day_sums as (
    {%- for dimension, relation in dimensions %}
    select
        account_id, created_date as local_day, pipeline_id, '{{ dimension | replace("'", "''") }}' as dimension,
        dimension_value, count(*) as leads_created, 0 as deals_won, 0 as deals_lost, 0 as revenue_won
    from {{ relation }}
    group by account_id, created_date, pipeline_id, dimension_value

    union all

    select
        account_id, closed_date, pipeline_id, '{{ dimension | replace("'", "''") }}', dimension_value, 0,
        count(*) filter (where is_won), count(*) filter (where is_lost), coalesce(sum(price) filter (where is_won), 0)
    from {{ relation }}
    where (is_won or is_lost)
        and closed_date is not null
    group by account_id, closed_date, pipeline_id, dimension_value
    {%- if not loop.last %}

    union all
    {% endif %}
    {%- endfor %}
),

-- Summed per day first (many leads share a day and a value), then rolled up to the three grains: the
-- same sums (integers and decimals, exact) as grouping the lead rows per grain, from far fewer rows.
daily as (
    select
        account_id,
        local_day,
        pipeline_id,
        dimension,
        dimension_value,
        sum(leads_created) as leads_created,
        sum(deals_won) as deals_won,
        sum(revenue_won) as revenue_won,
        sum(deals_lost) as deals_lost
    from day_sums
    group by all
),

aggregated as (
    select
        daily.account_id,
        account.currency,
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
    inner join account on account.account_id = daily.account_id
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
