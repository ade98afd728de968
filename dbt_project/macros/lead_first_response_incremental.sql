{#-
  How int_lead_first_response is built incrementally and still equals a full rebuild. A lead's row
  depends on its stg_amocrm__leads row (deletion, pipeline, manager, creation), on its int_lead_touches
  rows, on its account's extraction time (int_extraction) and on var amocrm_response_sla_minutes. A run
  recomputes, lead by lead (a pre-hook writes them to a temporary table and deletes their rows; the model
  appends them recomputed): (1) the leads the new loads changed (lead_touches_changed_leads: the same
  leads int_lead_touches recomputes for those loads), (2) the leads int_lead_touches removed a touch of
  (int_lead_touch_removals, stamped with the load) or may have given a touch of an activity recomputed
  in those loads (int_activity_attribution.attributed_load_id: its lead, the leads linked to its contact), (3) the leads whose stored flags no longer agree
  with the extraction time or the SLA (exactly computable from the stored created_at and
  first_response_at). Every other row has all its inputs unchanged.
-#}

{#- The models whose loads int_lead_first_response reads. -#}
{% macro first_response_upstream() -%}
    {{ return(['int_lead_touches', 'stg_amocrm__leads']) }}
{%- endmacro %}

{#-
  The reason every lead must be recomputed, or '' (none): the model never recorded a load (a table built
  by an earlier version), or an upstream model re-recorded a load after this model had read it (it was
  rebuilt in full, so its removed touches were not kept).
-#}
{% macro first_response_full_recompute_reason() -%}
    {{ return(first_full_recompute_reason([never_recorded_reason(), upstream_rebuilt_reason(first_response_upstream())])) }}
{%- endmacro %}

{#- The flags of a row from its created_at, first_response_at and the account's extraction time. -#}
{% macro first_response_sla_flag(first_response_at, created_at) -%}
    coalesce(
        (epoch({{ first_response_at }}) - epoch({{ created_at }})) / 60.0
        <= {{ var('amocrm_response_sla_minutes') }},
        false
    )
{%- endmacro %}

{% macro first_response_sla_elapsed(first_response_at, created_at, extracted_at) -%}
    {{ first_response_at }} is not null
        or epoch_us({{ extracted_at }}) - epoch_us({{ created_at }})
        >= cast({{ var('amocrm_response_sla_minutes') }} as bigint) * 60000000
{%- endmacro %}

{% macro first_response_14d_elapsed(created_at, extracted_at) -%}
    epoch_us({{ extracted_at }}) - epoch_us({{ created_at }}) >= 14 * 86400000000
{%- endmacro %}

{#- The leads to recompute (see the top of this file). -#}
{% macro first_response_changed_leads(new_loads) -%}
    {{ lead_touches_changed_leads(new_loads) }}
    union
    select account_id, lead_id from {{ ref('int_lead_touch_removals') }} where load_id in {{ new_loads }}
    union
    {#- the leads a recomputed activity can touch now: its own lead, the leads linked to its contact (a
        superset of its int_lead_touches rows, and cheaper than a join of all of them) #}
    select account_id, lead_id from changed_activities__{{ this.name }} where lead_id is not null
    union
    select links.account_id, links.lead_id
    from {{ ref('stg_amocrm__lead_contacts') }} as links
    semi join changed_activities__{{ this.name }} as changed
        on changed.entity_type = 'contact'
        and changed.account_id = links.account_id
        and changed.entity_id = links.contact_id
    union
    select stored.account_id, stored.lead_id
    from {{ this }} as stored
    left join {{ ref('int_extraction') }} as extraction on extraction.account_id = stored.account_id
    where stored.responded_within_sla is distinct from
            ({{ first_response_sla_flag('stored.first_response_at', 'stored.created_at') }})
        or stored.is_sla_elapsed is distinct from
            ({{ first_response_sla_elapsed('stored.first_response_at', 'stored.created_at', 'extraction.extracted_at') }})
        or stored.is_14d_elapsed is distinct from
            ({{ first_response_14d_elapsed('stored.created_at', 'extraction.extracted_at') }})
{%- endmacro %}

{#- First pre-hook: the leads to recompute, into a temporary table of the model's connection. -#}
{% macro create_first_response_changed_leads() -%}
    {%- if is_incremental() and not first_response_full_recompute_reason() -%}
    {%- set new_loads = unprocessed_loads(upstream=first_response_upstream()) %}
    create or replace temporary table changed_activities__{{ this.name }} as
    select account_id, lead_id, entity_type, entity_id from {{ ref('int_activity_attribution') }}
    where attributed_load_id in {{ new_loads }};
    create or replace temporary table changed_leads__{{ this.name }} as
    {{ first_response_changed_leads(new_loads) }};
    drop table changed_activities__{{ this.name }}
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}

{#- Second pre-hook: delete the rows about to be recomputed (every row for a full recompute). -#}
{% macro first_response_delete_changed() -%}
    {%- if is_incremental() -%}
        {%- if first_response_full_recompute_reason() -%}
    delete from {{ this }}
        {%- else -%}
    delete from {{ this }} where (account_id, lead_id) in (select account_id, lead_id from {{ changed_leads_table() }})
        {%- endif -%}
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}

{#- Post-hook, after recording the loads: the removals of the loads this model has read are done with. -#}
{% macro forget_read_touch_removals() -%}
    delete from {{ ref('int_lead_touch_removals') }}
    where load_id in (
        select load_id from {{ ref('int_processed_loads') }} where model_name = '{{ this.name }}'
    )
{%- endmacro %}

