{#-
  How stg_amocrm__leads is built incrementally: a run recomputes the rows of the leads whose inputs
  changed since it last ran (delete+insert on account_id and lead_id) and keeps the rest, so the table
  equals a full rebuild. What a row is derived from besides its raw row is stored with it, so that a
  change is seen by comparing the raw rows with the stored ones, not by trusting that every change
  comes in a new dlt load (the extractor sets is_deleted and deleted_at in place: deletions.py).
-#}

{#- A hash of the raw lead row (`raw`: its alias): every column the model reads, and its load id. -#}
{% macro leads_raw_hash(raw) -%}
    hash(
        {%- for column in ['account_id', 'id', 'name', 'price', 'pipeline_id', 'status_id', 'responsible_user_id',
                           'group_id', 'created_by', 'updated_by', 'loss_reason_id', 'source_id', 'source_name',
                           'company_id', 'created_at', 'updated_at', 'closed_at', 'closest_task_at', 'score',
                           'labor_cost', 'is_deleted', 'deleted_at', '_dlt_load_id'] %}
        {{ raw }}.{{ column }}{{ ',' if not loop.last }}
        {%- endfor %}
    )
{%- endmacro %}

{#-
  What the row's dates and pivoted fields were derived with besides the lead's own rows: the account's
  timezone (created_date, closed_date) and the custom field vars (utm_source, channel,
  satisfaction_score).
-#}
{% macro leads_derived_with(timezone_column) -%}
    {{ timezone_column }} || ' | ' || '{{ var('amocrm_utm_field') | string | replace("'", "''") }}'
        || ' | ' || '{{ var('amocrm_satisfaction_field') | string | replace("'", "''") }}'
{%- endmacro %}

{#-
  Per lead, its linked contacts that are deleted (left out of main_contact_id), as sorted ids joined
  by ','; no row for a lead with none. `links`: a relation of (account_id, lead_id, contact_id).
-#}
{% macro leads_deleted_contacts(links) -%}
    select
        links.account_id,
        links.lead_id,
        array_to_string(list_sort(list(distinct links.contact_id)), ',') as deleted_contact_ids
    from {{ links }} as links
    semi join (
        select account_id, contact_id from {{ ref('stg_amocrm__contacts') }} where is_deleted
    ) as deleted_contacts
        on deleted_contacts.account_id = links.account_id and deleted_contacts.contact_id = links.contact_id
    group by links.account_id, links.lead_id
{%- endmacro %}

{#-
  (account_id, lead_id) of the leads to recompute: their raw row came in a load not read here yet
  (`new_loads`; its custom field values and contact links are nested rows of it, replaced with it), or
  differs from the one the stored row was made from (raw_row_hash: changed in place, or not in the
  table yet), or their company's deletion state, their deleted linked contacts, or the account's
  timezone or the custom field vars (derived_with) are no longer those the stored row was made with.
  A table built before those columns existed: every lead, once.
-#}
{% macro leads_changed(new_loads) -%}
    {%- set raw_leads = source('raw_amocrm', 'leads') -%}
    {%- set stored_columns = get_columns_in_relation(this) | map(attribute='name') | map('lower') | list
        if execute else [] -%}
    {%- if execute and not ('raw_row_hash' in stored_columns and 'deleted_contact_ids' in stored_columns
                             and 'derived_with' in stored_columns) %}
    select account_id, id as lead_id from {{ raw_leads }}
    {%- else %}
    select account_id, id as lead_id from {{ raw_leads }} where _dlt_load_id in {{ new_loads }}
    union
    select raw.account_id, raw.id
    from {{ raw_leads }} as raw
    inner join {{ ref('stg_amocrm__account') }} as account on account.account_id = raw.account_id
    left join {{ this }} as stored on stored.account_id = raw.account_id and stored.lead_id = raw.id
    left join (
        select account_id, company_id from {{ ref('stg_amocrm__companies') }} where is_deleted
    ) as deleted_companies
        on deleted_companies.account_id = raw.account_id and deleted_companies.company_id = raw.company_id
    left join ({{ leads_deleted_contacts(ref('stg_amocrm__lead_contacts')) }}) as deleted_contacts
        on deleted_contacts.account_id = raw.account_id and deleted_contacts.lead_id = raw.id
    where stored.lead_id is null
        or stored.raw_row_hash <> {{ leads_raw_hash('raw') }}
        or stored.company_id is distinct from
            case when deleted_companies.company_id is null then cast(nullif(raw.company_id, 0) as bigint) end
        or stored.deleted_contact_ids is distinct from deleted_contacts.deleted_contact_ids
        or stored.derived_with is distinct from {{ leads_derived_with('account.timezone') }}
    {%- endif %}
{%- endmacro %}
