{#-
  The BI tables (models/marts/bi/): one period grain of a KPI fact each, so that a plain SUM in a BI
  tool is right, with the names of the ids joined in. `fact` is the fct_* model, `grain` one of
  'day', 'week', 'month'. Names come from the current dimensions; an id they do not know keeps a
  null name.
-#}

{% macro bi_sales_kpi(grain) -%}
with kpis as (
    select * from {{ ref('fct_sales_kpi') }}
    where period_grain = '{{ grain }}'
),

{{ bi_name_ctes() }}

final as (
    select
        kpis.period_start,
        kpis.pipeline_id,
        pipelines.pipeline_name,
        kpis.manager_id,
        managers.manager_name,
        managers.group_id,
        managers.group_name,
        kpis.leads_created,
        kpis.deals_won,
        kpis.revenue_won,
        kpis.avg_deal_value,
        kpis.deals_lost,
        kpis.win_rate,
        kpis.cohort_leads,
        kpis.cohort_won,
        kpis.cohort_conversion,
        kpis.sales_cycle_days_sum,
        kpis.sales_cycle_days_mean,
        kpis.sales_cycle_days_median,
        kpis.sales_cycle_days_p90
    from kpis
    left join pipelines on pipelines.pipeline_id = kpis.pipeline_id
    left join managers on managers.manager_id = kpis.manager_id
)

select * from final
{%- endmacro %}


{% macro bi_manager_activity(grain) -%}
with activity as (
    select * from {{ ref('fct_manager_activity') }}
    where period_grain = '{{ grain }}'
),

{{ bi_name_ctes() }}

final as (
    select
        activity.period_start,
        activity.manager_id,
        managers.manager_name,
        managers.group_id,
        managers.group_name,
        activity.calls_outgoing,
        activity.calls_incoming,
        activity.calls_connected,
        activity.call_seconds,
        activity.meetings_held,
        activity.tasks_completed,
        activity.tasks_overdue,
        activity.messages_sent
    from activity
    left join managers on managers.manager_id = activity.manager_id
)

select * from final
{%- endmacro %}


{% macro bi_lost_deals(grain) -%}
with lost as (
    select * from {{ ref('fct_lost_deals') }}
    where period_grain = '{{ grain }}'
),

{{ bi_name_ctes() }}

final as (
    select
        lost.period_start,
        lost.pipeline_id,
        pipelines.pipeline_name,
        lost.manager_id,
        managers.manager_name,
        managers.group_id,
        managers.group_name,
        lost.loss_reason_id,
        lost.loss_reason,
        lost.lost_at_pipeline_id,
        lost.lost_at_status_id,
        stages.status_name as lost_at_stage_name,
        lost.deals_lost,
        lost.value_lost
    from lost
    left join pipelines on pipelines.pipeline_id = lost.pipeline_id
    left join managers on managers.manager_id = lost.manager_id
    left join stages
        on stages.pipeline_id = lost.lost_at_pipeline_id
        and stages.status_id = lost.lost_at_status_id
)

select * from final
{%- endmacro %}


{#- The import CTEs of the names every BI table joins (ends with a comma). -#}
{% macro bi_name_ctes() -%}
stages as (
    select pipeline_id, pipeline_name, status_id, status_name from {{ ref('dim_pipeline_stages') }}
),

pipelines as (
    select distinct pipeline_id, pipeline_name from stages
),

managers as (
    select manager_id, manager_name, group_id, group_name from {{ ref('dim_managers') }}
),
{%- endmacro %}
