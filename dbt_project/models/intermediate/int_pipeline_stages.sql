-- Every stage ever seen: the statuses amoCRM lists now, plus the statuses the status history names
-- that are no longer listed (deleted from their pipeline), flagged is_deleted. A deleted status keeps
-- its place on the path: right after the listed active stage leads most often entered it from (ties:
-- the later stage; none: right after the incoming stage), several there by id.

with statuses as (
    select * from {{ ref('stg_amocrm__pipeline_statuses') }}
),

-- not materialized: each use reads the few columns it needs (buffering the four million stays cost more)
history as not materialized (
    select account_id, lead_id, stay_number, pipeline_id, status_id
    from {{ ref('int_lead_status_history') }}
),

listed as (
    select
        account_id,
        pipeline_id,
        status_id,
        status_name,
        status_sort,
        status_type,
        is_incoming,
        is_won,
        is_lost,
        false as is_deleted,
        case when is_incoming then 0 when is_won then 2 else 1 end as path_rank,
        status_sort as path_sort
    from statuses
),

-- The stays in a status no longer listed (few, usually none): one pass over the stays against the few
-- listed statuses, kept (materialized) so the stay-before join below starts from them.
deleted_stays as materialized (
    select stay.account_id, stay.lead_id, stay.stay_number, stay.pipeline_id, stay.status_id
    from history as stay
    anti join listed
        on listed.account_id = stay.account_id
        and listed.pipeline_id = stay.pipeline_id
        and listed.status_id = stay.status_id
),

deleted as (
    select distinct account_id, pipeline_id, status_id from deleted_stays
),

-- The stay before each stay in a deleted status, same pipeline. Materialized: joined in one step with the
-- listed stages below, DuckDB joined the four million stays with the listed stages first (three million
-- rows) and only then kept the few before a deleted status.
stays_before as materialized (
    select stay.account_id, stay.pipeline_id, stay.status_id, before.status_id as came_from_status_id
    from deleted_stays as stay
    inner join history as before
        on before.account_id = stay.account_id
        and before.lead_id = stay.lead_id
        and before.stay_number = stay.stay_number - 1
        and before.pipeline_id = stay.pipeline_id
),

-- The listed active stage each came from, counted.
entered_from as (
    select
        stay.account_id,
        stay.pipeline_id,
        stay.status_id,
        came_from.path_rank,
        came_from.path_sort,
        came_from.status_id as came_from_status_id,
        count(*) as entries
    from stays_before as stay
    inner join listed as came_from
        on came_from.account_id = stay.account_id
        and came_from.pipeline_id = stay.pipeline_id
        and came_from.status_id = stay.came_from_status_id
        and came_from.status_id not in (142, 143)
    group by all
),

anchors as (
    select account_id, pipeline_id, status_id, path_rank, path_sort
    from entered_from
    qualify row_number() over (
        partition by account_id, pipeline_id, status_id
        order by entries desc, path_rank desc, path_sort desc, came_from_status_id desc
    ) = 1
),

incoming as (
    select account_id, pipeline_id, min(status_sort) as path_sort
    from listed
    where is_incoming
    group by account_id, pipeline_id
),

deleted_stages as (
    select
        deleted.account_id,
        deleted.pipeline_id,
        deleted.status_id,
        'deleted status ' || deleted.status_id as status_name,
        cast(null as integer) as status_sort,
        cast(null as integer) as status_type,
        false as is_incoming,
        deleted.status_id = 142 as is_won,
        deleted.status_id = 143 as is_lost,
        true as is_deleted,
        case when deleted.status_id = 142 then 2 else coalesce(anchors.path_rank, 0) end as path_rank,
        coalesce(anchors.path_sort, incoming.path_sort, -1) as path_sort
    from deleted
    left join anchors
        on anchors.account_id = deleted.account_id
        and anchors.pipeline_id = deleted.pipeline_id
        and anchors.status_id = deleted.status_id
    left join incoming
        on incoming.account_id = deleted.account_id
        and incoming.pipeline_id = deleted.pipeline_id
),

all_stages as (
    select * from listed
    union all
    select * from deleted_stages
),

path_stages as (
    select
        account_id,
        pipeline_id,
        status_id,
        row_number() over (
            partition by account_id, pipeline_id
            order by path_rank, path_sort, is_deleted, status_id
        ) as stage_order
    from all_stages
    where not is_lost
),

ordered as (
    select
        path_stages.*,
        lead(status_id) over (partition by account_id, pipeline_id order by stage_order) as next_status_id,
        stage_order = max(stage_order) over (partition by account_id, pipeline_id) as is_last_stage
    from path_stages
),

final as (
    select
        all_stages.account_id,
        all_stages.pipeline_id,
        all_stages.status_id,
        all_stages.status_name,
        all_stages.status_sort,
        all_stages.status_type,
        all_stages.is_incoming,
        all_stages.is_won,
        all_stages.is_lost,
        all_stages.is_deleted,
        ordered.stage_order,
        ordered.next_status_id,
        coalesce(ordered.is_last_stage, false) as is_last_stage
    from all_stages
    left join ordered
        on ordered.account_id = all_stages.account_id
        and ordered.pipeline_id = all_stages.pipeline_id
        and ordered.status_id = all_stages.status_id
)

select * from final
