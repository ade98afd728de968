-- The amoCRM sources the leads name, each with the name the API gave it most recently: a lead
-- extracted before names were loaded, or not changed since a source was renamed, keeps an older one.
with leads as (
    select account_id, lead_id, source_id, source_name, updated_at
    from {{ ref('stg_amocrm__leads') }}
    where source_id is not null
),

ranked as (
    select
        account_id,
        source_id,
        source_name,
        row_number() over (
            partition by account_id, source_id
            order by source_name is null, updated_at desc nulls last, lead_id desc
        ) as name_rank
    from leads
),

final as (
    select
        account_id,
        source_id,
        source_name
    from ranked
    where name_rank = 1
)

select * from final
