-- A spend row's channel is written as a UTM value, an amoCRM source id or a source's name. A name
-- (any case) stands for its source's id, the channel the leads of that source have, unless some lead
-- carries it as its UTM value: that channel is taken as written (a source can always be keyed by its
-- id, a UTM value only by itself). The YAML's tests make the doubtful cases loud.
with spend as (
    select * from {{ ref('stg_inputs__marketing_spend') }}
),

sources as (
    select
        account_id,
        source_id,
        lower(trim(source_name)) as name_key
    from {{ ref('int_lead_sources') }}
    where source_name is not null
),

utm_channels as (
    select distinct account_id, lower(trim(utm_source)) as channel
    from {{ ref('stg_amocrm__leads') }}
    where utm_source is not null
),

named as (
    select
        spend.account_id,
        spend.source_line,
        count(distinct sources.source_id) as named_sources,
        min(sources.source_id) as source_id
    from spend
    inner join sources
        on sources.account_id = spend.account_id
        and sources.name_key = spend.channel
    group by spend.account_id, spend.source_line
),

resolved as (
    select
        spend.account_id,
        spend.month,
        spend.channel as channel_as_written,
        case
            when utm_channels.channel is null and named.named_sources = 1 then cast(named.source_id as varchar)
            else spend.channel
        end as channel,
        coalesce(named.named_sources, 0) as sources_named,
        utm_channels.channel is not null as is_utm_value,
        spend.amount,
        spend.source_line
    from spend
    left join named
        on named.account_id = spend.account_id
        and named.source_line = spend.source_line
    left join utm_channels
        on utm_channels.account_id = spend.account_id
        and utm_channels.channel = spend.channel
)

select * from resolved
