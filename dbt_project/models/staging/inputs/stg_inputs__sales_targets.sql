with source as (
    select * from {{ source('raw_inputs', 'sales_targets') }}
),

renamed as (
    select
        cast(month as date) as month,
        trim(manager) as manager,
        cast(target_revenue as decimal(18, 2)) as target_revenue,
        cast(target_deals as integer) as target_deals,
        cast(source_line as integer) as source_line
    from source
)

select * from renamed
