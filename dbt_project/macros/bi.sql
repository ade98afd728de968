{#-
  A BI table (models/marts/bi/): one period grain of a KPI fact, so that a plain SUM in a BI tool is
  right, with the names of its ids joined in from the current dimensions (an id they do not know
  keeps a null name); ids are matched within the fact's account. `fact`: the fct_* model; `grain`: 'day', 'week' or 'month'; `by_pipeline`: the
  fact has pipeline_id; `stage_prefix`: the fact names a stage by <prefix>pipeline_id and
  <prefix>status_id, published as <prefix>stage_name. The columns come out in the order the model's
  YAML contract lists them.
-#}
{% macro bi_one_grain(fact, grain, by_pipeline=true, stage_prefix=none) -%}
with facts as (
    select * exclude (period_grain)
    from {{ ref(fact) }}
    where period_grain = '{{ grain }}'
),

stages as (
    select account_id, pipeline_id, pipeline_name, status_id, status_name from {{ ref('dim_pipeline_stages') }}
),

pipelines as (
    select distinct account_id, pipeline_id, pipeline_name from stages
),

managers as (
    select account_id, manager_id, manager_name, group_id, group_name from {{ ref('dim_managers') }}
),

final as (
    select
        facts.*,
        {%- if by_pipeline %}
        pipelines.pipeline_name,
        {%- endif %}
        {%- if stage_prefix %}
        stages.status_name as {{ stage_prefix }}stage_name,
        {%- endif %}
        managers.manager_name,
        managers.group_id,
        managers.group_name
    from facts
    {%- if by_pipeline %}
    left join pipelines
        on pipelines.account_id = facts.account_id
        and pipelines.pipeline_id = facts.pipeline_id
    {%- endif %}
    {%- if stage_prefix %}
    left join stages
        on stages.account_id = facts.account_id
        and stages.pipeline_id = facts.{{ stage_prefix }}pipeline_id
        and stages.status_id = facts.{{ stage_prefix }}status_id
    {%- endif %}
    left join managers
        on managers.account_id = facts.account_id
        and managers.manager_id = facts.manager_id
)

select * from final
{%- endmacro %}
