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

{#-
  The satisfaction score per account and parent (lead_id or contact_id) in a *_custom_field_values relation: the
  field var amocrm_satisfaction_field selects, read as a number (amoCRM sends numeric fields as text,
  "8"); the lowest when there are several. Lead and contact scores are read the same way.
-#}
{% macro satisfaction_scores(custom_field_values, parent_key) -%}
    select
        account_id,
        {{ parent_key }},
        min(try_cast(trim(value) as decimal(18, 2))) as satisfaction_score
    from {{ custom_field_values }}
    where {{ custom_field_matches(var('amocrm_satisfaction_field')) }}
    group by account_id, {{ parent_key }}
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

{#-
  The body of stg_amocrm__<entity>_custom_field_values: one row per value of a custom field,
  keyed by the parent's id column (lead_id, contact_id, company_id). The three raw child tables
  have the same shape, so their staging models share it.
-#}
{% macro stg_custom_field_values(raw_table, parent_key) -%}
with source as (
    select * from {{ source('raw_amocrm', raw_table) }}
),

renamed as (
    select
        cast(account_id as bigint) as account_id,
        cast({{ parent_key }} as bigint) as {{ parent_key }},
        cast(field_id as bigint) as field_id,
        field_name,
        field_code,
        field_type,
        value,
        cast(enum_id as bigint) as enum_id,
        enum_code
    from source
)

select * from renamed
{%- endmacro %}

{#-
  The account_id of the rows of a user input (raw_inputs.*), as the select list's first column: the
  file's `account` cell names the account by id or subdomain (the loader checks it names one); an
  empty cell, allowed only while one account is loaded, is that account. A table written before the
  column existed has no `account` column: every row is then the only account's.
-#}
{% macro input_account_id(input_relation) -%}
    {%- set names = get_columns_in_relation(input_relation) | map(attribute='name') | map('lower') | list
        if execute else [] -%}
    {%- set account = 'nullif(trim(source.account), \'\')' if 'account' in names else 'cast(null as varchar)' -%}
    (
        select accounts.account_id
        from {{ ref('stg_amocrm__account') }} as accounts
        where ({{ account }} is null and (select count(*) from {{ ref('stg_amocrm__account') }}) = 1)
            or cast(accounts.account_id as varchar) = {{ account }}
            or lower(accounts.subdomain) = lower({{ account }})
    ) as account_id
{%- endmacro %}
