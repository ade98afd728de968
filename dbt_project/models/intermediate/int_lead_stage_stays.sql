{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='append_new_columns',
        pre_hook=["{{ create_changed_leads_table() }}", "{{ lead_history_delete_changed(stage_stays_checks()) }}"],
        post_hook=["{{ record_processed_loads(upstream=pipeline_daily_upstream(), rebuilt=lead_history_full_recompute_reason(stage_stays_checks()) != '') }}", "{{ drop_changed_leads_table() }}"]
    )
}}

-- Completed stays of live leads in an active status (not 142/143): when each was left, in the account
-- timezone, and how long it lasted. The basis of the "stuck" thresholds (int_stage_stuck_thresholds).
-- Incremental by lead (macros/lead_history_incremental.sql): a run recomputes the leads the new loads
-- changed; every lead when the account timezone the rows were dated in changed.

-- depends_on: {{ ref('int_processed_loads') }}
-- depends_on: {{ ref('stg_amocrm__events') }}
-- depends_on: {{ source('raw_amocrm', 'deletions') }}
{%- set full_reason = lead_history_full_recompute_reason(stage_stays_checks()) %}
{{- log_full_recompute(full_reason) }}

-- materialized: else DuckDB joins every stay with the deleted leads before it keeps the changed leads' only
with history as materialized (
    select account_id, lead_id, pipeline_id, status_id, entered_at, left_at, hours_in_status
    from {{ ref('int_lead_status_history') }}
    where left_at is not null
        and status_id not in (142, 143)
    {%- if is_incremental() and not full_reason %}
        and (account_id, lead_id) in ({{ lead_history_changed_leads() }})
    {%- endif %}
),

deleted_leads as (
    select account_id, lead_id from {{ ref('stg_amocrm__leads') }} where is_deleted
),

account as (
    select account_id, timezone from {{ ref('stg_amocrm__account') }}
),

final as (
    select
        history.account_id,
        history.lead_id,
        history.pipeline_id,
        history.status_id,
        history.entered_at,
        history.left_at,
        {{ local_date('history.left_at') }} as left_date,
        history.hours_in_status,
        account.timezone
    from history
    inner join account on account.account_id = history.account_id
    anti join deleted_leads
        on deleted_leads.account_id = history.account_id
        and deleted_leads.lead_id = history.lead_id
)

select * from final
