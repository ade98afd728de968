-- Materialized, not a view: every lead-level model reads it, and the custom-field pivot is worth doing once.
-- Incremental by lead (macros/leads_incremental.sql): a run recomputes the leads whose raw row is new or
-- changed, or whose company's or linked contacts' deletion, timezone or custom field vars changed since
-- (delete+insert on account_id and lead_id), and keeps the rest, so it equals a full rebuild.
-- It records in int_processed_loads the loads it has read, so that the incremental int_lead_status_history
-- never takes a load this table has not taken in.
{{
    config(
        materialized='incremental',
        unique_key=['account_id', 'lead_id'],
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        post_hook="{{ record_processed_loads() }}"
    )
}}

-- depends_on: {{ ref('int_processed_loads') }}
{%- set new_loads = unprocessed_loads() %}

with
{%- if is_incremental() %}

-- computed once (materialized), read by the four inputs below
changed_leads as materialized (
    {{ leads_changed(new_loads) }}
),
{%- endif %}

source as (
    select raw.* from {{ source('raw_amocrm', 'leads') }} as raw
    {%- if is_incremental() %}
    semi join changed_leads on changed_leads.account_id = raw.account_id and changed_leads.lead_id = raw.id
    {%- endif %}
),

account as (
    select account_id, timezone from {{ ref('stg_amocrm__account') }}
),

custom_field_values as (
    select field_values.* from {{ ref('stg_amocrm__lead_custom_field_values') }} as field_values
    {%- if is_incremental() %}
    semi join changed_leads
        on changed_leads.account_id = field_values.account_id and changed_leads.lead_id = field_values.lead_id
    {%- endif %}
),

utm as (
    select
        account_id,
        lead_id,
        min(nullif(trim(value), '')) as utm_source
    from custom_field_values
    where {{ custom_field_matches(var('amocrm_utm_field')) }}
    group by account_id, lead_id
),

satisfaction as (
    {{ satisfaction_scores('custom_field_values', 'lead_id') }}
),

-- A raw link is the API's view when the lead last changed: a company or contact deleted since
-- is still linked there, though amoCRM no longer shows it. Only live ones count.
deleted_companies as (
    select account_id, company_id from {{ ref('stg_amocrm__companies') }} where is_deleted
),

deleted_contacts as (
    select account_id, contact_id from {{ ref('stg_amocrm__contacts') }} where is_deleted
),

lead_contacts as (
    select links.* from {{ ref('stg_amocrm__lead_contacts') }} as links
    {%- if is_incremental() %}
    semi join changed_leads on changed_leads.account_id = links.account_id and changed_leads.lead_id = links.lead_id
    {%- endif %}
),

contacts as (
    select
        lead_contacts.account_id,
        lead_contacts.lead_id,
        coalesce(
            min(lead_contacts.contact_id) filter (where lead_contacts.is_main),
            min(lead_contacts.contact_id)
        ) as main_contact_id
    from lead_contacts
    left join deleted_contacts
        on deleted_contacts.account_id = lead_contacts.account_id
        and deleted_contacts.contact_id = lead_contacts.contact_id
    where deleted_contacts.contact_id is null
    group by lead_contacts.account_id, lead_contacts.lead_id
),

-- kept on the row, so that an incremental run sees when one of them is restored or another is deleted
deleted_links as (
    {{ leads_deleted_contacts('lead_contacts') }}
),

renamed as (
    select
        cast(source.account_id as bigint) as account_id,
        cast(source.id as bigint) as lead_id,
        source.name as lead_name,
        cast(source.price as bigint) as price,
        cast(source.pipeline_id as bigint) as pipeline_id,
        cast(source.status_id as bigint) as status_id,
        cast(source.responsible_user_id as bigint) as responsible_user_id,
        cast(source.group_id as bigint) as group_id,
        cast(source.created_by as bigint) as created_by,
        cast(source.updated_by as bigint) as updated_by,
        cast(nullif(source.loss_reason_id, 0) as bigint) as loss_reason_id,
        cast(nullif(source.source_id, 0) as bigint) as source_id,
        nullif(trim(source.source_name), '') as source_name,
        case when deleted_companies.company_id is null then cast(nullif(source.company_id, 0) as bigint) end
            as company_id,
        contacts.main_contact_id,
        {{ from_unix('source.created_at') }} as created_at,
        {{ local_date(from_unix('source.created_at')) }} as created_date,
        {{ from_unix('source.updated_at') }} as updated_at,
        {{ from_unix('source.closed_at') }} as closed_at,
        {{ local_date(from_unix('source.closed_at')) }} as closed_date,
        {{ from_unix('source.closest_task_at') }} as closest_task_at,
        cast(source.score as bigint) as score,
        cast(source.labor_cost as bigint) as labor_cost,
        coalesce(cast(source.is_deleted as boolean), false) as is_deleted,
        {{ from_unix('source.deleted_at') }} as deleted_at,
        utm.utm_source,
        lower(coalesce(trim(utm.utm_source), cast(nullif(source.source_id, 0) as varchar), 'unknown')) as channel,
        satisfaction.satisfaction_score,
        source._dlt_load_id as load_id,
        {{ leads_raw_hash('source') }} as raw_row_hash,
        deleted_links.deleted_contact_ids,
        {{ leads_derived_with('account.timezone') }} as derived_with
    from source
    -- each account's dates in its own timezone
    inner join account on account.account_id = source.account_id
    left join utm on utm.account_id = source.account_id and utm.lead_id = source.id
    left join satisfaction on satisfaction.account_id = source.account_id and satisfaction.lead_id = source.id
    left join contacts on contacts.account_id = source.account_id and contacts.lead_id = source.id
    left join deleted_links on deleted_links.account_id = source.account_id and deleted_links.lead_id = source.id
    left join deleted_companies
        on deleted_companies.account_id = source.account_id
        and deleted_companies.company_id = source.company_id
)

select * from renamed
