{{
    config(
        materialized='incremental',
        unique_key=['account_id', 'event_id'],
        row_key=['account_id', 'event_id'],
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        post_hook="{{ record_processed_loads() }}"
    )
}}

-- depends_on: {{ ref('int_processed_loads') }}

with events as (
    select * from {{ ref('stg_amocrm__events') }}
    where load_id in {{ unprocessed_loads() }}
),

lead_events as (
    select
        account_id,
        event_id,
        event_type,
        entity_id as lead_id,
        created_by,
        created_at,
        created_date,
        pipeline_id_before,
        status_id_before,
        pipeline_id_after,
        status_id_after,
        nps_rate,
        load_id
    from events
    where entity_type = 'lead'
        and event_type in ('lead_status_changed', 'nps_rate_added')
)

select * from lead_events
