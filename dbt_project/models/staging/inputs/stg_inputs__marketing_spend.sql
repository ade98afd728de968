with source as (
    select * from {{ source('raw_inputs', 'marketing_spend') }}
),

renamed as (
    select
        cast(month as date) as month,
        lower(trim(channel)) as channel,
        cast(amount as decimal(18, 2)) as amount,
        cast(source_line as integer) as source_line
    from source
)

select * from renamed
