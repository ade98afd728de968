{#-
  How int_lead_touches is built incrementally and still equals a full rebuild. A touch row (activity,
  lead) depends on the activity's int_activity_attribution row (and, for a note, its author in
  stg_amocrm__notes, which comes with the note's row: the attribution recomputes it then), on the lead's
  row (created_at, status, closed_at, deletion) and on the lead's contact links (leads__contacts, a child
  of the lead's raw row, rewritten only with it). So a run deletes, in a pre-hook, the rows of
  (1) the activities the attribution recomputed since this model's last build (stamped with a load this
  model has not read: int_activity_attribution.attributed_load_id) and (2) the leads those loads changed
  (their row, a deletion or restore signal, an id reconciliation), and appends the rows of the same
  activities and leads recomputed. Every other row has all its inputs unchanged. The activities on or
  about a changed lead are read through (1): int_activity_attribution recomputes them on the same
  signals (attribution_changed_entities); only the touches on the changed leads' contacts need a join.
-#}

{#- The models whose loads int_lead_touches reads. -#}
{% macro lead_touches_upstream() -%}
    {{ return(['int_activity_attribution', 'stg_amocrm__leads']) }}
{%- endmacro %}

{#-
  The reason the incremental run must recompute every row, or '' (none): the model never recorded a
  load (a table built by an earlier version), an upstream model re-recorded a load after this model had
  read it (it was rebuilt in full), or the attribution holds rows with no stamp (built by an earlier
  version, or recomputed by a build that read no new load).
-#}
{% macro lead_touches_full_recompute_reason() -%}
    {%- set unstamped -%}
        select 'int_activity_attribution holds rows with no attributed_load_id (built by an earlier version, '
            || 'or recomputed by a build that read no new load)' as reason
        from {{ ref('int_activity_attribution') }}
        where attributed_load_id is null
    {%- endset -%}
    {{ return(first_full_recompute_reason([never_recorded_reason(), upstream_rebuilt_reason(lead_touches_upstream()),
                                           unstamped])) }}
{%- endmacro %}

{#- (account_id, activity_id) the attribution recomputed since this model's last build. -#}
{% macro lead_touches_changed_activities(new_loads) -%}
    select account_id, activity_id
    from {{ ref('int_activity_attribution') }}
    where attributed_load_id in {{ new_loads }}
{%- endmacro %}

{#-
  (account_id, lead_id) of the leads whose row, deletion flag or contact links may have changed
  (leads_changed_by_loads: the loads' lead rows, deletion signals, and id reconciliations since this
  model's last build).
-#}
{% macro lead_touches_changed_leads(new_loads) -%}
    {{ leads_changed_by_loads(new_loads, '>= epoch(' ~ attribution_last_build() ~ ')') }}
{%- endmacro %}

{#- The pre-hook: delete the rows about to be recomputed (every row for a full recompute). -#}
{% macro lead_touches_delete_changed() -%}
    {%- if is_incremental() -%}
        {%- if lead_touches_full_recompute_reason() -%}
    delete from {{ this }}
        {%- else -%}
            {%- set new_loads = unprocessed_loads(upstream=lead_touches_upstream()) %}
    {{ record_touch_removals(new_loads) }};
    {#- by rowid from two semi joins: faster than `in` tests joined by `or` on millions of rows #}
    delete from {{ this }}
    where rowid in (
        select rowid from {{ this }}
        semi join ({{ lead_touches_changed_activities(new_loads) }}) as changed using (account_id, activity_id)
        union all
        select rowid from {{ this }}
        semi join ({{ lead_touches_changed_leads(new_loads) }}) as changed using (account_id, lead_id)
    )
        {%- endif -%}
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}

{#-
  Before the delete: keep the leads that lose the touches of a recomputed activity, stamped with the load
  that recomputed it (int_lead_touch_removals), for int_lead_first_response: once deleted they are gone
  from every table. The touches removed with a changed lead need no record: that model recomputes the
  changed leads of the same loads itself.
-#}
{% macro record_touch_removals(new_loads) -%}
    {%- if execute and load_relation(ref('int_lead_touch_removals')) is none -%}
        {{ exceptions.raise_compiler_error(
            "intermediate.int_lead_touch_removals, where " ~ this ~ " keeps the leads it removes touches of, "
            ~ "is missing. Run `dbt build` without --select (it creates it first).") }}
    {%- endif -%}
    insert into {{ ref('int_lead_touch_removals') }} (account_id, lead_id, load_id)
    select distinct touches.account_id, touches.lead_id, changed.attributed_load_id
    from {{ this }} as touches
    inner join (
        select account_id, activity_id, attributed_load_id
        from {{ ref('int_activity_attribution') }}
        where attributed_load_id in {{ new_loads }}
    ) as changed using (account_id, activity_id)
{%- endmacro %}

