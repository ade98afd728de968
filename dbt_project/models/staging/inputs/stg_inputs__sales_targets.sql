with source as (
    select * from {{ source('raw_inputs', 'sales_targets') }}
),

renamed as (
    select
        {{ input_account_id(source('raw_inputs', 'sales_targets')) }},
        cast(source.month as date) as month,
        trim(source.manager) as manager,
        cast(source.target_revenue as decimal(18, 2)) as target_revenue,
        cast(source.target_deals as integer) as target_deals,
        cast(source.source_line as integer) as source_line
    from source
)

select * from renamed
