{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        row_key=['account_id', 'activity_id', 'lead_id'],
        on_schema_change='fail',
        pre_hook="{{ lead_touches_delete_changed() }}",
        post_hook="{{ record_processed_loads(upstream=lead_touches_upstream(), rebuilt=lead_touches_full_recompute_reason() != '') }}"
    )
}}

-- Outgoing touches of leads (kpi-contract.md "Outgoing touch"): outgoing calls, outgoing e-mails and
-- outgoing chat messages made by a user, one row per touch and lead it counts for. Which activity is
-- live and which lead a chat message is about is decided once, in int_activity_attribution.
-- Incremental (macros/lead_touches_incremental.sql): a run recomputes the touches of the activities the
-- attribution recomputed since its last build and of the leads the new loads changed; the YAML says why.

-- depends_on: {{ ref('int_processed_loads') }}
-- depends_on: {{ ref('int_lead_touch_removals') }}
-- depends_on: {{ ref('stg_amocrm__events') }}
-- depends_on: {{ source('raw_amocrm', 'deletions') }}
{%- set full_reason = lead_touches_full_recompute_reason() %}
{{- log_full_recompute(full_reason, rows='touch') }}
{%- set incremental = is_incremental() and not full_reason %}
{%- set new_loads = unprocessed_loads(upstream=lead_touches_upstream()) %}
{%- set touch_filter = "is_counted and direction = 'out' and activity_type in ('call', 'email', 'chat_message')" %}

with
{%- if incremental %}

changed_activities as materialized (
    {{ lead_touches_changed_activities(new_loads) }}
),

changed_leads as materialized (
    {{ lead_touches_changed_leads(new_loads) }}
),

-- the contacts of the changed leads: their touches may count for those leads
changed_contacts as materialized (
    select distinct account_id, contact_id
    from {{ ref('stg_amocrm__lead_contacts') }}
    semi join changed_leads using (account_id, lead_id)
),

-- The activities the attribution recomputed (stamped with a new load: they include every activity on
-- or about a changed lead, which the attribution recomputes too) and the touches on the changed leads'
-- contacts. Two scans: one `where` on the stamp's row groups, one semi join to the few contacts (a join
-- of every row to a changed set would read all the columns of millions of rows); union: an activity
-- can be in both.
attributed as (
    select * exclude (attributed_load_id)
    from {{ ref('int_activity_attribution') }}
    where {{ touch_filter }}
        and attributed_load_id in {{ new_loads }}
    union
    select attribution.* exclude (attributed_load_id)
    from {{ ref('int_activity_attribution') }} as attribution
    semi join changed_contacts
        on attribution.entity_type = 'contact'
        and changed_contacts.account_id = attribution.account_id
        and changed_contacts.contact_id = attribution.entity_id
    where {{ touch_filter }}
),
{%- else %}

attributed as (
    select * exclude (attributed_load_id) from {{ ref('int_activity_attribution') }}
    where {{ touch_filter }}
),
{%- endif %}

note_touches as (
    select *, cast(substr(activity_id, 6) as bigint) as note_id
    from attributed
    where source = 'note'
),

-- int_activities names a note's responsible user when its author is 0; a touch needs a real author.
-- Matched on the note id (a number, not the built activity id string), among the outgoing call and
-- e-mail notes only: the notes a touch can come from.
authored_notes as (
    select account_id, note_id
    from {{ ref('stg_amocrm__notes') }}
    where note_type in ('call_out', 'amomail_message')
        and created_by > 0
        {%- if incremental %}
        -- a few notes: this filter lets the scan skip the others
        and note_id in (select note_id from note_touches)
        {%- endif %}
),

leads as (
    select
        account_id,
        lead_id,
        created_at,
        case when status_id in (142, 143) then closed_at end as closed_at
    from {{ ref('stg_amocrm__leads') }}
    where not is_deleted
),

lead_contacts as (
    select account_id, lead_id, contact_id from {{ ref('stg_amocrm__lead_contacts') }}
),

touches as (
    select * from attributed
    where source <> 'note'
    union all
    select * exclude (note_id)
    from note_touches
    semi join authored_notes using (account_id, note_id)
),

-- A touch on the lead itself, or a chat message put back on its lead by the talk.
on_leads as (
    select account_id, activity_id, activity_type, lead_id, occurred_at, manager_id, 'lead' as touched_entity_type
    from touches
    where lead_id is not null
),

-- A call or e-mail on a contact touches every lead linked to that contact (the current links: amoCRM
-- keeps no link history) that already existed and was not yet closed at the time of the touch.
on_contacts as (
    select
        touches.account_id,
        touches.activity_id,
        touches.activity_type,
        leads.lead_id,
        touches.occurred_at,
        touches.manager_id,
        'contact' as touched_entity_type
    from touches
    inner join lead_contacts
        on lead_contacts.account_id = touches.account_id
        and lead_contacts.contact_id = touches.entity_id
    inner join leads
        on leads.account_id = lead_contacts.account_id
        and leads.lead_id = lead_contacts.lead_id
    where touches.lead_id is null
        and touches.entity_type = 'contact'
        and leads.created_at <= touches.occurred_at
        and (leads.closed_at is null or touches.occurred_at <= leads.closed_at)
),

final as (
    select * from on_leads
    union all
    select * from on_contacts
)

{%- if incremental %}
select final.*
from final
left join changed_activities
    on changed_activities.account_id = final.account_id
    and changed_activities.activity_id = final.activity_id
left join changed_leads
    on changed_leads.account_id = final.account_id
    and changed_leads.lead_id = final.lead_id
where changed_activities.activity_id is not null
    or changed_leads.lead_id is not null
{%- else %}
select * from final
{%- endif %}
