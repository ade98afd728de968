-- The configured satisfaction field (var amocrm_satisfaction_field) may be a lead or a contact field,
-- as the KPI contract allows; a name shared by a lead and a contact field selects both. amoCRM's NPS
-- ratings (nps_rate_added) count on whatever they rate: a lead, a contact, or a customer.

-- leads and contacts are each read twice below, through a filter or a semi join that keeps a few
-- rows: reading the table twice costs less than writing out a million rows once (not materialized).
with leads as not materialized (
    select account_id, lead_id, responsible_user_id, status_id, closed_at, closed_date, is_deleted, satisfaction_score
    from {{ ref('stg_amocrm__leads') }}
),

contacts as not materialized (
    select account_id, contact_id, responsible_user_id, updated_at, is_deleted
    from {{ ref('stg_amocrm__contacts') }}
),

account as (
    select account_id, timezone from {{ ref('stg_amocrm__account') }}
),

nps_ratings as (
    select
        account_id,
        'nps_event' as response_source,
        event_id as response_id,
        'lead' as entity_type,
        lead_id as entity_id,
        created_at as responded_at,
        created_date as response_date,
        cast(nps_rate as decimal(18, 2)) as score
    from {{ ref('int_lead_events') }}
    where event_type = 'nps_rate_added'
        and nps_rate is not null
),

people_nps_ratings as (
    select
        account_id,
        'nps_event' as response_source,
        event_id as response_id,
        entity_type,
        entity_id,
        created_at as responded_at,
        created_date as response_date,
        cast(nps_rate as decimal(18, 2)) as score
    from {{ ref('stg_amocrm__events') }}
    where event_type = 'nps_rate_added'
        and entity_type in ('contact', 'customer')
        and nps_rate is not null
),

lead_field_scores as (
    select
        account_id,
        'custom_field' as response_source,
        cast(lead_id as varchar) as response_id,
        'lead' as entity_type,
        lead_id as entity_id,
        closed_at as responded_at,
        closed_date as response_date,
        satisfaction_score as score
    from leads
    where satisfaction_score is not null
        and status_id in (142, 143)
        and closed_at is not null
),

contact_field_values as (
    {{ satisfaction_scores(ref('stg_amocrm__contact_custom_field_values'), 'contact_id') }}
),

-- amoCRM keeps no time for a field value: the contact's last change is when the score was given.
contact_field_scores as (
    select
        contacts.account_id,
        'contact_field' as response_source,
        cast(contacts.contact_id as varchar) as response_id,
        'contact' as entity_type,
        contacts.contact_id as entity_id,
        contacts.updated_at as responded_at,
        {{ local_date('contacts.updated_at') }} as response_date,
        contact_field_values.satisfaction_score as score
    from contact_field_values
    inner join contacts
        on contacts.account_id = contact_field_values.account_id
        and contacts.contact_id = contact_field_values.contact_id
    inner join account on account.account_id = contacts.account_id
    where contact_field_values.satisfaction_score is not null
),

responses as (
    select * from nps_ratings
    union all
    select * from people_nps_ratings
    union all
    select * from lead_field_scores
    union all
    select * from contact_field_scores
),

-- Whose score it is: the current responsible user of the rated lead or contact. amoCRM customers are not
-- extracted: their ratings count with no manager (null), as does a rating of an entity not loaded.
-- Only the rated ones (semi joins): a hash table of every lead and contact cost more than the rest.
rated as (
    select account_id, 'lead' as entity_type, lead_id as entity_id, responsible_user_id, is_deleted
    from leads
    semi join (select account_id, entity_id from responses where entity_type = 'lead') as rated_leads
        on rated_leads.account_id = leads.account_id
        and rated_leads.entity_id = leads.lead_id
    union all
    select account_id, 'contact', contact_id, responsible_user_id, is_deleted
    from contacts
    semi join (select account_id, entity_id from responses where entity_type = 'contact') as rated_contacts
        on rated_contacts.account_id = contacts.account_id
        and rated_contacts.entity_id = contacts.contact_id
),

final as (
    select
        responses.account_id,
        responses.response_source,
        responses.response_id,
        responses.entity_type,
        responses.entity_id,
        rated.responsible_user_id as manager_id,
        responses.responded_at,
        responses.response_date,
        responses.score,
        responses.score >= 9 as is_promoter,
        responses.score <= 6 as is_detractor
    from responses
    left join rated
        on rated.account_id = responses.account_id
        and rated.entity_type = responses.entity_type
        and rated.entity_id = responses.entity_id
    where not coalesce(rated.is_deleted, false)
        and responses.score between 0 and 10
)

select * from final
