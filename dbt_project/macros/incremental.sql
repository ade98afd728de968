{#-
  Which dlt loads an incremental model has read is kept in int_processed_loads, one row per model
  and load, never inferred from the order of load ids: dlt makes them from the machine clock, and a
  clock stepped back (VM restore, NTP jump) gives a new load an id that sorts before older ones.

  An incremental model filters its input with `load_id in {{ unprocessed_loads() }}` and records
  what it read with `post_hook="{{ record_processed_loads() }}"` (run inside the model's own
  transaction, so its rows and its record commit together or not at all), and lists
  `-- depends_on: {{ ref('int_processed_loads') }}` so that the ledger exists before it runs.
  See int_processed_loads in models/intermediate/_intermediate__models.yml for the reasoning.
-#}

{#-
  The loads this model has not read yet: completed dlt loads (`_dlt_loads.status = 0`; a load
  still in progress or failed is left for the build after it completes) - or, for a model that
  reads other models rather than raw rows, the loads every one of those `upstream` models has
  recorded (it must not skip past rows they have not taken in yet) - minus those in the ledger
  for this model.
-#}
{% macro candidate_loads_query(upstream=[]) -%}
    {%- if upstream %}
    select load_id
    from {{ ref('int_processed_loads') }}
    where model_name in ('{{ upstream | join("', '") }}')
    group by load_id
    having count(distinct model_name) = {{ upstream | length }}
    {%- else %}
    select distinct load_id
    from {{ source('raw_amocrm', '_dlt_loads') }}
    where status = 0
    {%- endif %}
{%- endmacro %}

{% macro new_loads_query(model_name, upstream=[]) -%}
    select candidate.load_id
    from ({{ candidate_loads_query(upstream) }}) as candidate
    where not exists (
        select 1
        from {{ ref('int_processed_loads') }} as processed
        where processed.model_name = '{{ model_name }}'
            and processed.load_id = candidate.load_id
    )
{%- endmacro %}

{#-
  The loads to read, as the right-hand side of `load_id in ...`. Incremental runs resolve them while
  the model is compiled into a list of constants, so DuckDB skips row groups of other loads by their
  min/max statistics instead of re-scanning the big raw tables; `(null)` (matches nothing) when
  there are none. A full build reads every load (a subquery: it scans everything anyway).
-#}
{% macro unprocessed_loads(upstream=[]) -%}
    {%- set query = new_loads_query(this.name, upstream) -%}
    {%- if execute and is_incremental() -%}
        {%- do require_ledger() -%}
        {%- set loads = run_query(query).columns[0].values() -%}
        {%- if loads | length == 0 -%}
            (null)
        {%- else -%}
            ({% for load in loads | sort %}'{{ load | replace("'", "''") }}'{{ ", " if not loop.last }}{% endfor %})
        {%- endif -%}
    {%- else -%}
        ({{ candidate_loads_query(upstream) }})
    {%- endif -%}
{%- endmacro %}

{#-
  Post-hook of an incremental model: record the loads it has just read. The same query as
  unprocessed_loads, so the same loads: dbt holds the warehouse's single-writer lock for the whole
  run, so no load can complete between the model's compilation and its hook. A full refresh (or,
  with `rebuilt`, a table model's every build) forgets what the model had read and records every
  load it has now read.
-#}
{% macro record_processed_loads(upstream=[], rebuilt=false) -%}
    {%- set ledger = ref('int_processed_loads') -%}
    {%- do require_ledger() -%}
    {%- if rebuilt or should_full_refresh() -%}
    delete from {{ ledger }} where model_name = '{{ this.name }}';
    {%- endif %}
    insert into {{ ledger }} (model_name, load_id, processed_at)
    select '{{ this.name }}', new_loads.load_id, now()
    from ({{ new_loads_query(this.name, upstream) }}) as new_loads
{%- endmacro %}

{#- Stop with plain words when the ledger is missing (a --select that left it out of a fresh build). -#}
{% macro require_ledger() -%}
    {%- if execute and load_relation(ref('int_processed_loads')) is none -%}
        {{ exceptions.raise_compiler_error(
            "intermediate.int_processed_loads, the record of the dlt loads each incremental model has "
            ~ "read, is missing, so " ~ this ~ " can neither tell which loads are new nor record them. "
            ~ "Run `dbt build` without --select (it creates the ledger first); the incremental models "
            ~ "then re-read every load once.") }}
    {%- endif -%}
{%- endmacro %}

{#-
  Why an incremental model must recompute every row in this run, or '' (none): the first row of the
  `reasons` queries (each a select of one text column, one row per reason). Resolved while the model is
  compiled; '' on a full build.
-#}
{% macro first_full_recompute_reason(reasons) -%}
    {%- if not (execute and is_incremental()) -%}
        {{ return('') }}
    {%- endif -%}
    {%- do require_ledger() -%}
    {%- set query -%}
        select * exclude (priority)
        from (
            {%- for reason in reasons %}
            select {{ loop.index }} as priority, * from ({{ reason }} limit 1){{ ' union all' if not loop.last }}
            {%- endfor %}
        )
        order by priority
        limit 1
    {%- endset -%}
    {%- set rows = run_query(query).columns[0].values() -%}
    {{ return(rows[0] if rows | length > 0 else '') }}
{%- endmacro %}

{#- A reason: this model has never recorded a load (a table built by an earlier version, or a lost ledger). -#}
{% macro never_recorded_reason() -%}
    select 'it has no record of the loads it has read (built by an earlier version, or its ledger rows '
        || 'were lost)' as reason
    where not exists (select 1 from {{ ref('int_processed_loads') }} where model_name = '{{ this.name }}')
{%- endmacro %}

{#-
  A reason: an `upstream` model re-recorded a load after this model had read it (it was rebuilt in full,
  so its rows may differ from those this model was built from).
-#}
{% macro upstream_rebuilt_reason(upstream) -%}
    select 'upstream model ' || upstream.model_name || ' was rebuilt in full (it recorded load '
        || upstream.load_id || ' again after this model had read it)' as reason
    from {{ ref('int_processed_loads') }} as upstream
    inner join {{ ref('int_processed_loads') }} as mine
        on mine.load_id = upstream.load_id and mine.model_name = '{{ this.name }}'
    where upstream.model_name in ('{{ upstream | join("', '") }}')
        and upstream.processed_at > mine.processed_at
{%- endmacro %}

{#- Says in the dbt log that this run recomputes every `rows` (lead, touch), and why (`reason`, or '': nothing). -#}
{% macro log_full_recompute(reason, rows='lead') -%}
    {%- if reason -%}
        {{ log(this ~ ": recomputing every " ~ rows ~ " (a full recompute, as costly as a full refresh) because "
               ~ reason ~ ".", info=true) }}
    {%- endif -%}
{%- endmacro %}
