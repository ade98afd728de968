{#-
  How int_activity_attribution's incremental run finds the activities whose attribution may have
  changed, so that it recomputes only those (delete+insert on account_id and activity_id) and still
  equals a full rebuild. An activity's row depends on: its own record (int_activities), the chat
  event of a message and every chat message of its talk (the talk's lead), the owner and deletion flag
  of the lead, contact or company it is about, the task_deleted / common_note_deleted events naming it,
  and the account's meeting task types. See the model's YAML entry for the rule in plain words.
-#}

{#- The models whose loads int_activity_attribution reads (it waits for a load until both took it in). -#}
{% macro attribution_upstream() -%}
    {{ return(['int_activities', 'stg_amocrm__leads']) }}
{%- endmacro %}

{#- This model's last build: the newest time its post-hook recorded a load (a scalar subquery). -#}
{% macro attribution_last_build() -%}
    (select max(processed_at) from {{ ref('int_processed_loads') }} where model_name = '{{ this.name }}')
{%- endmacro %}

{#- A relation of raw_amocrm written outside dlt's loads (id reconciliation, merge checks), or none. -#}
{% macro attribution_raw_relation(identifier) -%}
    {%- set loads = source('raw_amocrm', '_dlt_loads') -%}
    {{ return(adapter.get_relation(database=loads.database, schema=loads.schema, identifier=identifier)) }}
{%- endmacro %}

{#-
  True when an incremental run must recompute every activity: the model has never recorded a load
  (a table built by a version that rebuilt it in full, or a ledger lost), or an id reconciliation since
  its last build found records it had marked gone live again (it deletes their marks and leaves no id
  to follow: rare, and said in the log). Resolved while compiling; the model and its pre-hook agree.
-#}
{% macro attribution_recompute_all(announce=true) -%}
    {%- if not (execute and is_incremental()) -%}
        {{ return(false) }}
    {%- endif -%}
    {%- do require_ledger() -%}
    {%- set reconciliations = attribution_raw_relation('reconciliations') -%}
    {%- set query -%}
        select
            {{ attribution_last_build() }} is null as never_recorded,
            {%- if reconciliations is not none %}
            (select count(*) from {{ reconciliations }}
             where reappeared > 0 and run_at >= {{ attribution_last_build() }}) as reappeared
            {%- else %}
            0 as reappeared
            {%- endif %}
    {%- endset -%}
    {%- set row = run_query(query).rows[0] -%}
    {%- set columns = adapter.get_columns_in_relation(this) | map(attribute='name') | map('lower') | list -%}
    {%- if row[0] -%}
        {%- do log(this ~ ": no record of the loads it has read (built by an earlier version, or its ledger "
                   ~ "rows were lost): every activity is recomputed once.", info=announce) -%}
        {{ return(true) }}
    {%- elif 'attributed_load_id' not in columns -%}
        {%- do log(this ~ ": built before it stamped its rows with the load that recomputed them "
                   ~ "(attributed_load_id): every activity is recomputed once.", info=announce) -%}
        {{ return(true) }}
    {%- elif row[1] > 0 -%}
        {%- do log(this ~ ": an id reconciliation since its last build found records live again that it had "
                   ~ "marked gone; it names no ids, so every activity is recomputed.", info=announce) -%}
        {{ return(true) }}
    {%- endif -%}
    {{ return(false) }}
{%- endmacro %}

{#-
  Pre-hook: a run that recomputes every activity first adds task_type_id and attributed_load_id, which a
  table built by an earlier version lacks, and empties the table (delete+insert then has nothing to match).
-#}
{% macro attribution_prepare_recompute_all() -%}
    {%- if attribution_recompute_all(announce=false) -%}
    alter table {{ this }} add column if not exists task_type_id bigint;
    alter table {{ this }} add column if not exists attributed_load_id varchar;
    delete from {{ this }}
    {%- endif -%}
{%- endmacro %}

{#-
  (account_id, entity_type, entity_id) of the leads, contacts and companies whose owner or deletion
  flag may have changed since the last build: their row came in a new load, or a deletion, restore or
  merge signal did (pipelines/amocrm/deletions.py applies those to the raw rows in place, leaving their
  load id as it was), or an id reconciliation or merge check since the last build named them.
-#}
{% macro attribution_changed_entities(new_loads) -%}
    select account_id, 'lead' as entity_type, lead_id as entity_id
    from {{ ref('stg_amocrm__leads') }} where load_id in {{ new_loads }}
    union
    select cast(account_id as bigint), 'contact', cast(id as bigint)
    from {{ source('raw_amocrm', 'contacts') }} where _dlt_load_id in {{ new_loads }}
    union
    select cast(account_id as bigint), 'company', cast(id as bigint)
    from {{ source('raw_amocrm', 'companies') }} where _dlt_load_id in {{ new_loads }}
    union
    select account_id, entity_type, entity_id
    from {{ ref('stg_amocrm__events') }}
    where event_type in ('lead_deleted', 'lead_restored', 'contact_deleted', 'contact_restored',
                         'company_deleted', 'company_restored', 'entity_merged')
        and load_id in {{ new_loads }}
    union
    select cast(account_id as bigint), entity_type, cast(id as bigint)
    from {{ source('raw_amocrm', 'deletions') }} where _dlt_load_id in {{ new_loads }}
    {%- set disappearances = attribution_raw_relation('disappearances') %}
    {%- if disappearances is not none %}
    union
    select account_id, entity_type, id from {{ disappearances }}
    where run_at >= epoch({{ attribution_last_build() }})
    {%- endif %}
    {%- set merge_checks = attribution_raw_relation('merge_checks') %}
    {%- if merge_checks is not none %}
    union
    select account_id, entity_type, id from {{ merge_checks }}
    where checked_at >= {{ attribution_last_build() }}
    {%- endif %}
{%- endmacro %}

{#-
  attributed_load_id of the rows this build writes: the newest (by id) of the loads it reads, so that a
  model following it by activity (int_lead_touches) finds every row recomputed since its own last build
  as the rows stamped with a load it has not read yet (it reads a load only once this model recorded it,
  and this model records all the loads of a build together). Null when an incremental build reads no new
  load (it can still recompute what an id reconciliation named): such a follower then recomputes
  everything. A full build stamps the newest load of all; its followers see it re-recorded in the ledger.
-#}
{% macro attribution_stamp() -%}
    {%- if execute and is_incremental() -%}
        {%- set loads = run_query(new_loads_query(this.name, attribution_upstream())).columns[0].values() -%}
        {%- if loads | length == 0 -%}
    cast(null as varchar)
        {%- else -%}
    '{{ (loads | sort | last) | replace("'", "''") }}'
        {%- endif -%}
    {%- else -%}
    (select max(load_id) from ({{ candidate_loads_query(attribution_upstream()) }}) as loads)
    {%- endif -%}
{%- endmacro %}

{#-
  Pre-hook of int_activities: a table built before it stored each chat message's talk_id gets the
  column, filled from the messages' events (once, logged), so int_activity_attribution can read a
  message's talk from int_activities instead of looking it up among all events on every build.
-#}
{% macro activities_add_talk_id() -%}
    {%- if execute and is_incremental()
          and 'talk_id' not in (adapter.get_columns_in_relation(this) | map(attribute='name') | map('lower') | list) -%}
        {%- do log(this ~ ": built before it stored the chat messages' talk_id; adding the column and filling it "
                   ~ "from the messages' events (once).", info=true) -%}
    alter table {{ this }} add column talk_id bigint;
    update {{ this }} as activities
    set talk_id = events.talk_id
    from {{ ref('stg_amocrm__events') }} as events
    where activities.source = 'event'
        and events.event_type = 'outgoing_chat_message'
        and events.account_id = activities.account_id
        and activities.activity_id = 'event:' || events.event_id
    {%- endif -%}
{%- endmacro %}
