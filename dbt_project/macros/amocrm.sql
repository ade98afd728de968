{#-
  Predicate selecting the custom field configured by a dbt var: a numeric value is a field id,
  anything else matches the field name or code case-insensitively. Used on *_custom_field_values.
-#}
{% macro custom_field_matches(field_reference) -%}
    {%- set reference = field_reference | string | trim -%}
    {%- if reference.isdigit() -%}
        field_id = {{ reference }}
    {%- else -%}
        {%- set literal = "'" ~ (reference | replace("'", "''")) ~ "'" -%}
        (lower(field_name) = lower({{ literal }}) or lower(field_code) = lower({{ literal }}))
    {%- endif -%}
{%- endmacro %}

{#- amoCRM spells entity types in the plural in some endpoints (tasks, custom fields): use the singular. -#}
{% macro singular_entity_type(column) -%}
    case {{ column }}
        when 'leads' then 'lead'
        when 'contacts' then 'contact'
        when 'companies' then 'company'
        when 'customers' then 'customer'
        else {{ column }}
    end
{%- endmacro %}
