-- Outgoing touches of leads (kpi-contract.md "Outgoing touch"): outgoing calls, outgoing e-mails and
-- outgoing chat messages made by a user, one row per touch and lead it counts for. Which activity is
-- live and which lead a chat message is about is decided once, in int_activity_attribution.

with attributed as (
    select * from {{ ref('int_activity_attribution') }}
    where is_counted
        and direction = 'out'
        and activity_type in ('call', 'email', 'chat_message')
),

-- int_activities names a note's responsible user when its author is 0; a touch needs a real author.
-- Matched on the note id (a number, not the built activity id string), among the outgoing call and
-- e-mail notes only: the notes a touch can come from.
authored_notes as (
    select account_id, note_id
    from {{ ref('stg_amocrm__notes') }}
    where note_type in ('call_out', 'amomail_message')
        and created_by > 0
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

note_touches as (
    select *, cast(substr(activity_id, 6) as bigint) as note_id
    from attributed
    where source = 'note'
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

select * from final
