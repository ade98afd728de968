{{
    config(
        materialized='incremental',
        unique_key=['account_id', 'lead_id'],
        row_key=['account_id', 'lead_id', 'stay_number'],
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        post_hook="{{ record_processed_loads(upstream=['int_lead_events', 'stg_amocrm__leads']) }}"
    )
}}

-- Incremental by lead: a run rebuilds the whole history of every lead whose row or status-change
-- events came in a dlt load not read here yet (delete+insert on account_id and lead_id), so it equals a full
-- rebuild while touching only the leads of the new loads. The new loads are those both its inputs,
-- int_lead_events and stg_amocrm__leads, have read and this model has not: a load either input has
-- not taken in yet (a build that selected this model without it) waits for it.

-- depends_on: {{ ref('int_processed_loads') }}
{%- set new_loads = unprocessed_loads(upstream=['int_lead_events', 'stg_amocrm__leads']) %}

{#- Each input is read for only the columns used: a `select *` of the three million status changes read their
    unused columns too, and a CTE referenced twice was buffered whole. #}
with
{%- if is_incremental() %}

changed_leads as materialized (
    select account_id, lead_id from {{ ref('stg_amocrm__leads') }}
    where created_at is not null and load_id in {{ new_loads }}
    union
    select account_id, lead_id from {{ ref('int_lead_events') }}
    where event_type = 'lead_status_changed' and load_id in {{ new_loads }}
),
{%- endif %}

leads as (
    select account_id, lead_id, pipeline_id, status_id, created_at, load_id
    from {{ ref('stg_amocrm__leads') }}
    where created_at is not null
    {%- if is_incremental() %}
        and (account_id, lead_id) in (select account_id, lead_id from changed_leads)
    {%- endif %}
),

all_status_changes as (
    select account_id, lead_id, event_id, created_at, created_by, pipeline_id_before, status_id_before,
        pipeline_id_after, status_id_after, load_id
    from {{ ref('int_lead_events') }}
    where event_type = 'lead_status_changed'
    {%- if is_incremental() %}
        and (account_id, lead_id) in (select account_id, lead_id from changed_leads)
    {%- endif %}
),

status_changes as (
    select
        all_status_changes.account_id,
        all_status_changes.lead_id,
        event_id,
        created_at as changed_at,
        created_by as changed_by,
        pipeline_id_before,
        status_id_before,
        pipeline_id_after,
        status_id_after,
        load_id,
        row_number() over (partition by all_status_changes.account_id, all_status_changes.lead_id order by created_at, event_id)
            as change_number
    from all_status_changes
),

-- The status the lead was created in: the "before" side of its first status change,
-- or its current status when it never changed.
created_in as (
    select
        leads.account_id,
        leads.lead_id,
        1 as stay_number,
        coalesce(first_change.pipeline_id_before, leads.pipeline_id) as pipeline_id,
        coalesce(first_change.status_id_before, leads.status_id) as status_id,
        leads.created_at as entered_at,
        cast(null as bigint) as entered_by,
        cast(null as varchar) as entered_event_id,
        leads.load_id
    from leads
    left join status_changes as first_change
        on first_change.account_id = leads.account_id
        and first_change.lead_id = leads.lead_id
        and first_change.change_number = 1
),

changed_to as (
    select
        status_changes.account_id,
        status_changes.lead_id,
        status_changes.change_number + 1 as stay_number,
        status_changes.pipeline_id_after as pipeline_id,
        status_changes.status_id_after as status_id,
        status_changes.changed_at as entered_at,
        status_changes.changed_by as entered_by,
        status_changes.event_id as entered_event_id,
        status_changes.load_id
    from status_changes
    inner join leads
        on leads.account_id = status_changes.account_id
        and leads.lead_id = status_changes.lead_id
),

stays as (
    select * from created_in
    union all
    select * from changed_to
),

final as (
    select
        account_id,
        lead_id,
        stay_number,
        pipeline_id,
        status_id,
        entered_at,
        entered_by,
        entered_event_id,
        lead(entered_at) over stay_order as left_at,
        lead(pipeline_id) over stay_order as next_pipeline_id,
        lead(status_id) over stay_order as next_status_id,
        lead(stay_number) over stay_order is null as is_current,
        (epoch(lead(entered_at) over stay_order) - epoch(entered_at)) / 3600.0 as hours_in_status,
        load_id
    from stays
    window stay_order as (partition by account_id, lead_id order by stay_number)
)

select * from final
