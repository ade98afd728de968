{#- Unix seconds (amoCRM sends 0 or null for "not set") -> an instant (timestamp with time zone). -#}
{% macro from_unix(column) -%}
    to_timestamp(nullif({{ column }}, 0))
{%- endmacro %}

{#- The calendar date of an instant in the account timezone (a column holding an IANA name). Callers join
    the account on account_id, so that each row takes its own account's timezone. -#}
{% macro local_date(instant, timezone_column='account.timezone') -%}
    cast(timezone({{ timezone_column }}, {{ instant }}) as date)
{%- endmacro %}

{#- The three calendar grains every KPI fact is published at, as a relation to cross join. -#}
{% macro period_grains() -%}
    (values ('day'), ('week'), ('month')) as period_grains (period_grain)
{%- endmacro %}

{#- Start of the period of grain `grain` that contains local date `local_day` (ISO weeks start on Monday). -#}
{% macro period_start(grain, local_day) -%}
    case {{ grain }}
        when 'day' then {{ local_day }}
        when 'week' then cast(date_trunc('week', {{ local_day }}) as date)
        when 'month' then cast(date_trunc('month', {{ local_day }}) as date)
    end
{%- endmacro %}
