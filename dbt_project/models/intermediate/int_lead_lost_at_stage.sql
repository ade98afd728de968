with history as (
    select * from {{ ref('int_lead_status_history') }}
),

current_losses as (
    select account_id, lead_id, stay_number
    from history
    where is_current
        and status_id = 143
),

-- The last stay in an active status (neither won nor lost) before the lead moved to 143 for good.
last_active as (
    select
        history.account_id,
        history.lead_id,
        arg_max(history.pipeline_id, history.stay_number) as lost_at_pipeline_id,
        arg_max(history.status_id, history.stay_number) as lost_at_status_id,
        max(history.stay_number) as lost_at_stay_number
    from history
    inner join current_losses
        on current_losses.account_id = history.account_id
        and current_losses.lead_id = history.lead_id
        and history.stay_number < current_losses.stay_number
    where history.status_id not in (142, 143)
    group by history.account_id, history.lead_id
)

select * from last_active
