{#-
  The first day fct_pipeline_daily's incremental run recomputes, one for every account: the earliest
  of the last day already built for each account (its first day for an account new to the table) (built part-way through, as of an extraction) and the creation day of every lead (deleted ones
  too) whose row, status changes, deletion or restore came in a dlt load the model has not read, or
  that an id reconciliation marked gone since the newest load the model has read. A
  lead's current price and manager stand for all its past days, so a change touches each of them.

  Resolved once while the model is compiled, into a date constant that both the model and its pre-hook
  (which deletes those days first, so that a day left with no open deal loses its old rows too) use;
  the table is unchanged between the two, so they agree.
-#}
{% macro pipeline_daily_upstream() -%}
    {{ return(['int_lead_status_history', 'stg_amocrm__leads']) }}
{%- endmacro %}

{% macro pipeline_daily_changed_leads(new_loads) -%}
    select account_id, lead_id from {{ ref('stg_amocrm__leads') }} where load_id in {{ new_loads }}
    union
    select account_id, lead_id from {{ ref('int_lead_status_history') }} where load_id in {{ new_loads }}
    union
    select account_id, entity_id from {{ ref('stg_amocrm__events') }}
    where entity_type = 'lead'
        and event_type in ('lead_deleted', 'lead_restored', 'entity_merged')
        and load_id in {{ new_loads }}
    union
    select cast(account_id as bigint), cast(id as bigint) from {{ source('raw_amocrm', 'deletions') }}
    where entity_type = 'lead' and _dlt_load_id in {{ new_loads }}
    {%- set loads = source('raw_amocrm', '_dlt_loads') -%}
    {%- set disappearances = adapter.get_relation(database=loads.database, schema=loads.schema,
                                                  identifier='disappearances') -%}
    {%- if disappearances is not none %}
    union
    {#- marked gone by an id reconciliation (no dlt load of its own) since the last load this model read;
        the id in every account (more days recomputed than needed, never fewer) #}
    select leads.account_id, disappeared.id
    from {{ disappearances }} as disappeared
    inner join {{ ref('stg_amocrm__leads') }} as leads on leads.lead_id = disappeared.id
    where disappeared.entity_type = 'lead'
        and disappeared.run_at > (
            select coalesce(max(epoch(loads.inserted_at)), 0)
            from {{ loads }} as loads
            inner join {{ ref('int_processed_loads') }} as processed
                on processed.load_id = loads.load_id and processed.model_name = '{{ this.name }}'
        )
    {%- endif %}
{%- endmacro %}

{% macro pipeline_daily_from_date() -%}
    {%- if execute and is_incremental() -%}
        {%- set new_loads = unprocessed_loads(upstream=pipeline_daily_upstream()) -%}
        {%- set query -%}
            select cast(least(
                (
                    select min(coalesce(built.last_built, calendar.first_day))
                    from {{ ref('int_pipeline_calendar') }} as calendar
                    left join (
                        select account_id, max(snapshot_date) as last_built from {{ this }} group by account_id
                    ) as built on built.account_id = calendar.account_id
                ),
                coalesce(
                    (
                        select min(created_date) from {{ ref('fct_leads') }}
                        where (account_id, lead_id) in ({{ pipeline_daily_changed_leads(new_loads) }})
                    ),
                    (select max(last_day) from {{ ref('int_pipeline_calendar') }})
                )
            ) as varchar)
        {%- endset -%}
        {%- set from_date = run_query(query).columns[0].values()[0] -%}
        {%- if from_date is none -%}
            (select min(first_day) from {{ ref('int_pipeline_calendar') }})
        {%- else -%}
            date '{{ from_date }}'
        {%- endif -%}
    {%- else -%}
        (select min(first_day) from {{ ref('int_pipeline_calendar') }})
    {%- endif -%}
{%- endmacro %}
