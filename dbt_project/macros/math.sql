{#- Ratio that is null (not an error, not infinity) when the denominator is 0 or null. -#}
{% macro safe_divide(numerator, denominator) -%}
    ({{ numerator }}) / nullif({{ denominator }}, 0)
{%- endmacro %}

{#-
  Exact money ratio: a non-negative amount (integer or decimal with at most 2 places) divided by
  a positive count, rounded half up to cents, as decimal(18, 2); null when the count is 0 or null.
  DuckDB turns decimal division into a double, so this works in integer cents.
-#}
{% macro money_divide(amount, count) -%}
    case when {{ count }} > 0 then
        cast(
            cast((2 * cast(({{ amount }}) * 100 as hugeint) + {{ count }}) // (2 * {{ count }}) as decimal(18, 0)) * 0.01
            as decimal(18, 2)
        )
    end
{%- endmacro %}
