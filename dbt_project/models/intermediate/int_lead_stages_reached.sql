{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='append_new_columns',
        pre_hook=["{{ create_changed_leads_table() }}", "{{ lead_history_delete_changed(stages_reached_checks()) }}"],
        post_hook=["{{ record_processed_loads(upstream=pipeline_daily_upstream(), rebuilt=lead_history_full_recompute_reason(stages_reached_checks()) != '') }}", "{{ drop_changed_leads_table() }}"]
    )
}}

-- Incremental by lead (macros/lead_history_incremental.sql): a run recomputes the leads the new loads
-- changed; every lead when the stage order of the account's pipelines (int_pipeline_stages) changed.

-- depends_on: {{ ref('int_processed_loads') }}
-- depends_on: {{ ref('stg_amocrm__leads') }}
-- depends_on: {{ ref('stg_amocrm__events') }}
-- depends_on: {{ source('raw_amocrm', 'deletions') }}
{%- set full_reason = lead_history_full_recompute_reason(stages_reached_checks()) %}
{{- log_full_recompute(full_reason) }}

-- materialized: else DuckDB joins every stay with the stages before it keeps the changed leads' only
with history as materialized (
    select account_id, lead_id, pipeline_id, status_id, entered_at
    from {{ ref('int_lead_status_history') }}
    {%- if is_incremental() and not full_reason %}
    where (account_id, lead_id) in ({{ lead_history_changed_leads() }})
    {%- endif %}
),

stages as (
    select account_id, pipeline_id, status_id, stage_order
    from {{ ref('int_pipeline_stages') }}
    where stage_order is not null
),

stage_paths as (
    {{ stage_path_of_account() }}
),

-- A lead reached a stage when it was ever in that stage or a later one of the same pipeline;
-- so per pipeline it visited, the furthest path stage it was ever in is all the funnel needs.
furthest as (
    select
        history.account_id,
        history.lead_id,
        history.pipeline_id,
        max(stages.stage_order) as furthest_stage_order,
        min(history.entered_at) as first_entered_at
    from history
    inner join stages
        on stages.account_id = history.account_id
        and stages.pipeline_id = history.pipeline_id
        and stages.status_id = history.status_id
    group by history.account_id, history.lead_id, history.pipeline_id
),

final as (
    select furthest.*, stage_paths.stage_path
    from furthest
    inner join stage_paths on stage_paths.account_id = furthest.account_id
)

select * from final
