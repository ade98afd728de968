{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        full_refresh=false,
        on_schema_change='fail',
        pre_hook="{% if is_incremental() %}delete from {{ this }} as target using {{ ref('int_extraction') }} as extraction where target.account_id = extraction.account_id and target.snapshot_date = extraction.extracted_date{% endif %}"
    )
}}

-- The morning checklist per manager, as of the extraction: figures that exist only "now" (open tasks,
-- empty fields), so they are kept as a daily snapshot. Every build computes the extraction day's rows
-- and replaces that day's, per account (the pre-hook deletes them first, also when no row is left): the latest run
-- of the day wins, earlier days stay. full_refresh=false: `dbt build --full-refresh` keeps the history
-- (it cannot be rebuilt); to drop it, drop the table by hand.

{%- set required = var('amocrm_required_fields') %}
{%- if required is string %}{% set required = [required] %}{% endif %}
{%- set required = (required or []) | reject('none') | map('string') | map('trim') | reject('equalto', '') | unique | list %}

with extraction as (
    select account_id, extracted_at, extracted_date from {{ ref('int_extraction') }}
),

open_leads as (
    select facts.account_id, facts.lead_id, facts.manager_id, facts.price, leads.main_contact_id
    from {{ ref('fct_leads') }} as facts
    inner join {{ ref('stg_amocrm__leads') }} as leads
        on leads.account_id = facts.account_id
        and leads.lead_id = facts.lead_id
    where not facts.is_deleted
        and not facts.is_won
        and not facts.is_lost
),

-- Tasks deleted in amoCRM leave its lists; only their deletion events say they are gone.
deleted_tasks as (
    select account_id, entity_id as task_id
    from {{ ref('stg_amocrm__events') }}
    where event_type = 'task_deleted'
),

open_tasks as (
    select
        tasks.account_id,
        tasks.entity_id as lead_id,
        bool_or(tasks.complete_till < extraction.extracted_at) as has_overdue_task
    from {{ ref('stg_amocrm__tasks') }} as tasks
    inner join extraction on extraction.account_id = tasks.account_id
    anti join deleted_tasks
        on deleted_tasks.account_id = tasks.account_id
        and deleted_tasks.task_id = tasks.task_id
    where tasks.entity_type = 'lead'
        and not tasks.is_completed
    group by tasks.account_id, tasks.entity_id
),

{%- if required %}

field_values as (
    select account_id, lead_id, field_id, field_name, field_code
    from {{ ref('stg_amocrm__lead_custom_field_values') }}
    where nullif(trim(value), '') is not null
),

-- Leads with any of the fields in var amocrm_required_fields empty.
missing_required as (
    select open_leads.account_id, open_leads.lead_id
    from open_leads
    where
        {%- for field in required %}
        not exists (
            select 1 from field_values
            where field_values.account_id = open_leads.account_id
                and field_values.lead_id = open_leads.lead_id
                and {{ custom_field_matches(field) }}
        ){{ ' or' if not loop.last }}
        {%- endfor %}
),
{%- else %}

missing_required as (
    select cast(null as bigint) as account_id, cast(null as bigint) as lead_id where false
),
{%- endif %}

-- Only the open leads' current stays (the join below keeps no other): a semi join first spares joining
-- the extraction and thresholds to the million current stays of the closed ones.
current_stays as (
    select
        history.account_id,
        history.lead_id,
        thresholds.hours_p90,
        (epoch(extraction.extracted_at) - epoch(history.entered_at)) / 3600.0 as hours_in_stage
    from {{ ref('int_lead_status_history') }} as history
    inner join extraction on extraction.account_id = history.account_id
    left join {{ ref('int_stage_stuck_thresholds') }} as thresholds
        on thresholds.account_id = history.account_id
        and thresholds.pipeline_id = history.pipeline_id
        and thresholds.status_id = history.status_id
        and thresholds.threshold_date = extraction.extracted_date
    semi join open_leads
        on open_leads.account_id = history.account_id
        and open_leads.lead_id = history.lead_id
    where history.is_current
),

aggregated as (
    select
        open_leads.account_id,
        open_leads.manager_id,
        count(*) as open_deals,
        count(*) filter (where open_tasks.lead_id is null) as open_without_next_task,
        count(*) filter (where open_tasks.has_overdue_task) as open_with_overdue_task,
        count(*) filter (where open_leads.price = 0) as open_without_price,
        count(*) filter (where open_leads.main_contact_id is null) as open_without_contact,
        count(*) filter (where missing_required.lead_id is not null) as open_missing_required,
        count(*) filter (where current_stays.hours_in_stage > current_stays.hours_p90) as stuck_deals
    from open_leads
    left join open_tasks
        on open_tasks.account_id = open_leads.account_id
        and open_tasks.lead_id = open_leads.lead_id
    left join missing_required
        on missing_required.account_id = open_leads.account_id
        and missing_required.lead_id = open_leads.lead_id
    left join current_stays
        on current_stays.account_id = open_leads.account_id
        and current_stays.lead_id = open_leads.lead_id
    group by open_leads.account_id, open_leads.manager_id
),

final as (
    select
        cast(aggregated.account_id as bigint) as account_id,
        cast(extraction.extracted_date as date) as snapshot_date,
        cast(aggregated.manager_id as bigint) as manager_id,
        cast(aggregated.open_deals as bigint) as open_deals,
        cast(aggregated.open_without_next_task as bigint) as open_without_next_task,
        cast(aggregated.open_with_overdue_task as bigint) as open_with_overdue_task,
        cast(aggregated.open_without_price as bigint) as open_without_price,
        cast(aggregated.open_without_contact as bigint) as open_without_contact,
        cast(aggregated.open_missing_required as bigint) as open_missing_required,
        cast(aggregated.stuck_deals as bigint) as stuck_deals,
        extraction.extracted_at
    from aggregated
    inner join extraction on extraction.account_id = aggregated.account_id
)

select * from final
