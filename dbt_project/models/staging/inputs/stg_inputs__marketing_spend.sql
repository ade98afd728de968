with source as (
    select * from {{ source('raw_inputs', 'marketing_spend') }}
),

renamed as (
    select
        {{ input_account_id(source('raw_inputs', 'marketing_spend')) }},
        cast(source.month as date) as month,
        lower(trim(source.channel)) as channel,
        cast(source.amount as decimal(18, 2)) as amount,
        cast(source.source_line as integer) as source_line
    from source
)

select * from renamed
