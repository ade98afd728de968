-- Incremental by changed rows (macros/changed_rows_incremental.sql): a run computes every lead's row and
-- writes only those that differ from the stored ones (merged by lead), so it equals a full rebuild.
{{
    config(
        materialized='incremental',
        unique_key=['account_id', 'lead_id'],
        incremental_strategy='merge',
        on_schema_change='append_new_columns',
        pre_hook="{{ delete_vanished_keys(['account_id', 'lead_id'], fct_leads_keys()) }}",
        post_hook="{{ log_changed_rows() }}"
    )
}}

with leads as (
    select * from {{ ref('stg_amocrm__leads') }}
),

account as (
    select account_id, currency from {{ ref('stg_amocrm__account') }}
),

users as (
    select account_id, user_id, group_id from {{ ref('stg_amocrm__users') }}
),

loss_reasons as (
    select account_id, loss_reason_id, loss_reason_name from {{ ref('stg_amocrm__loss_reasons') }}
),

sources as (
    select account_id, source_id, source_name from {{ ref('int_lead_sources') }}
),

lost_at as (
    select * from {{ ref('int_lead_lost_at_stage') }}
),

first_won as (
    select account_id, first_won_lead_id from {{ ref('int_customer_first_won') }}
),

final as (
    select
        leads.account_id,
        account.currency,
        leads.lead_id,
        leads.lead_name,
        leads.pipeline_id,
        leads.status_id,
        leads.responsible_user_id as manager_id,
        users.group_id,
        cast(coalesce(leads.price, 0) as decimal(18, 2)) as price,
        leads.created_at,
        leads.created_date,
        case when leads.status_id in (142, 143) then leads.closed_at end as closed_at,
        case when leads.status_id in (142, 143) then leads.closed_date end as closed_date,
        leads.status_id = 142 as is_won,
        leads.status_id = 143 as is_lost,
        leads.is_deleted,
        leads.deleted_at,
        leads.channel,
        leads.utm_source,
        leads.source_id,
        sources.source_name,
        case when leads.status_id = 143 then leads.loss_reason_id end as loss_reason_id,
        case
            when leads.status_id = 143 then coalesce(loss_reasons.loss_reason_name, 'not specified')
        end as loss_reason,
        case when leads.status_id = 143 then lost_at.lost_at_pipeline_id end as lost_at_pipeline_id,
        case when leads.status_id = 143 then lost_at.lost_at_status_id end as lost_at_status_id,
        case
            when leads.status_id = 142
                then (epoch(leads.closed_at) - epoch(leads.created_at)) / 86400.0
        end as sales_cycle_days,
        case when leads.company_id is not null then 'company' when leads.main_contact_id is not null then 'contact' end
            as customer_type,
        coalesce(leads.company_id, leads.main_contact_id) as customer_id,
        first_won.first_won_lead_id is not null as is_first_won_of_customer,
        leads.satisfaction_score
    from leads
    inner join account on account.account_id = leads.account_id
    left join users
        on users.account_id = leads.account_id
        and users.user_id = leads.responsible_user_id
    left join loss_reasons
        on loss_reasons.account_id = leads.account_id
        and loss_reasons.loss_reason_id = leads.loss_reason_id
    left join sources
        on sources.account_id = leads.account_id
        and sources.source_id = leads.source_id
    left join lost_at
        on lost_at.account_id = leads.account_id
        and lost_at.lead_id = leads.lead_id
    left join first_won
        on first_won.account_id = leads.account_id
        and first_won.first_won_lead_id = leads.lead_id
)

{{ changed_rows('final', ['account_id', 'lead_id']) }}
