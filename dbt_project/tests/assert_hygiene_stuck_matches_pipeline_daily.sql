-- The snapshot of the latest day and the pipeline's latest day agree on open and stuck deals per manager.
with hygiene as (
    select manager_id, open_deals, stuck_deals
    from {{ ref('fct_crm_hygiene') }}
    where snapshot_date = (select extracted_date from {{ ref('int_extraction') }})
),

pipeline as (
    select manager_id, sum(open_deals) as open_deals, sum(stuck_deals) as stuck_deals
    from {{ ref('fct_pipeline_daily') }}
    where snapshot_date = (select extracted_date from {{ ref('int_extraction') }})
    group by manager_id
)

select *
from hygiene
full outer join pipeline using (manager_id)
where hygiene.open_deals is distinct from pipeline.open_deals
    or hygiene.stuck_deals is distinct from pipeline.stuck_deals
