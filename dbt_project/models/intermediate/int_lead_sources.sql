-- The amoCRM sources the leads name, each with the name the API gave it most recently: a lead
-- extracted before names were loaded, or not changed since a source was renamed, keeps an older one.
with leads as (
    select account_id, lead_id, source_id, source_name, updated_at
    from {{ ref('stg_amocrm__leads') }}
    where source_id is not null
),

-- One pass of a group-by, not a window sorting every lead of a source: the name of the lead that
-- sorts first by (named first, latest updated_at first with unknown ones last, highest lead id).
-- The flags come before the values they guard, so that a null never meets a non-null in the key;
-- arg_max skips a null name, which only matters when no lead of the source has one (null then too).
final as (
    select
        account_id,
        source_id,
        arg_max(
            source_name,
            (source_name is not null, updated_at is not null, updated_at, lead_id)
        ) as source_name
    from leads
    group by account_id, source_id
)

select * from final
