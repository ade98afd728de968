{#- A model's column rules in one test: one dbt node where a test per rule and column cost dbt its fixed
    compile-and-run work each (README "Check"; scripts/fold_column_rules.py writes it from the per-column
    tests; with `config: {severity: warn}` and named column_warnings_<model>, the model's warnings in one).
    Fails with one row per broken rule, column and value: rule ('not_null', 'accepted_values',
    'accepted_range', 'unique', 'unique_per_account', 'unique_combination', 'relationships to <model>.<field>',
    a named key's name, ...), column_name (a key's columns joined by ', '), value (the value not accepted, the
    repeated key or the reference not found, as text; null for not_null) and failing_rows (the rows breaking
    it: null rows, rows with that value, rows carrying the repeated key or the reference). The failure count
    is the sum of failing_rows.
      not_null: [column, ...]                             never null
      accepted_values: {column: [value, ...]}             null or one of the values (strings are quoted)
      accepted_range: {column: {min_value:, max_value:}}  null or within the bounds (either optional)
      unique: [column, ...]                               no repeat among its non-null values
      unique_per_account: [column, ...]                   no repeat of (account_id, column), column not null
      unique_combination: [[column, ...], ...]            no repeat of the combination (nulls compare equal)
      not_null_where: {condition: [column, ...]}          never null on the rows the condition holds for (rule
                                                          'not_null where <condition>'; e.g. not is_deleted)
      expressions: {name: expression}                     true on every row (rule 'expression', column_name the
                                                          name; a null counts as false, as expression_is_true)
      named_keys: {name: [column, ...]}                   a unique_combination under a name users know (e.g.
                                                          data/README.md's marketing_spend_one_row_per_month_and_
                                                          channel): the rule is the name, column_name its columns
      relationships: {column: {to: ref(..), field:, where:}}  every non-null value is a `field` of `to` in the same
                                                          account (ids repeat across accounts), on the rows
                                                          `where` holds for (optional; the rule says it)
    Each rule reads the model on its own, as its own test did (a not_null's `where column is null` is
    answered from DuckDB's row-group statistics), so the checks cost the same queries in one node. -#}
{% test column_rules(model, not_null=[], accepted_values={}, accepted_range={}, unique=[],
                     unique_per_account=[], unique_combination=[], not_null_where={}, expressions={},
                     named_keys={}, relationships={}) %}
{{ config(fail_calc='coalesce(sum(failing_rows), 0)') }}
{%- set parts = [] -%}

{%- for column in not_null %}
{%- do parts.append(
    "select 'not_null' as rule, '" ~ column ~ "' as column_name, null::varchar as value, count(*) as failing_rows\n"
    ~ "from " ~ model ~ "\nwhere " ~ column ~ " is null\nhaving count(*) > 0") %}
{%- endfor %}

{%- for condition, columns in not_null_where.items() %}
{%- for column in columns %}
{%- do parts.append(
    "select 'not_null where " ~ (condition | replace("'", "''")) ~ "' as rule, '" ~ column ~ "' as column_name, null::varchar as value, count(*) as failing_rows\n"
    ~ "from " ~ model ~ "\nwhere " ~ column ~ " is null and (" ~ condition ~ ")\nhaving count(*) > 0") %}
{%- endfor %}
{%- endfor %}

{%- for name, expression in expressions.items() %}
{%- do parts.append(
    "select 'expression' as rule, '" ~ name ~ "' as column_name, null::varchar as value, count(*) as failing_rows\n"
    ~ "from " ~ model ~ "\nwhere not coalesce((" ~ expression ~ "), false)\nhaving count(*) > 0") %}
{%- endfor %}

{%- for column, values in accepted_values.items() %}
{%- set quoted = [] %}
{%- for value in values %}
{%- do quoted.append("'" ~ (value | replace("'", "''")) ~ "'" if value is string else value | string) %}
{%- endfor %}
{%- do parts.append(
    "select 'accepted_values' as rule, '" ~ column ~ "' as column_name, cast(" ~ column ~ " as varchar) as value, count(*) as failing_rows\n"
    ~ "from " ~ model ~ "\nwhere " ~ column ~ " not in (" ~ quoted | join(", ") ~ ")\ngroup by " ~ column) %}
{%- endfor %}

{%- for column, bounds in accepted_range.items() %}
{%- set outside = [] %}
{%- if bounds.get('min_value') is not none %}{% do outside.append(column ~ " < " ~ bounds['min_value']) %}{% endif %}
{%- if bounds.get('max_value') is not none %}{% do outside.append(column ~ " > " ~ bounds['max_value']) %}{% endif %}
{%- do parts.append(
    "select 'accepted_range' as rule, '" ~ column ~ "' as column_name, cast(" ~ column ~ " as varchar) as value, count(*) as failing_rows\n"
    ~ "from " ~ model ~ "\nwhere " ~ (outside | join(" or ") or "false") ~ "\ngroup by " ~ column) %}
{%- endfor %}

{%- set keys = [] %}
{%- for column in unique %}{% do keys.append(('unique', [column], column ~ ' is not null')) %}{% endfor %}
{%- for column in unique_per_account %}
{%- do keys.append(('unique_per_account', ['account_id', column], column ~ ' is not null')) %}
{%- endfor %}
{%- for columns in unique_combination %}{% do keys.append(('unique_combination', columns, 'true')) %}{% endfor %}
{%- for name, columns in named_keys.items() %}{% do keys.append((name, columns, 'true')) %}{% endfor %}
{%- for rule, columns, where in keys %}
{%- set rendered = [] %}
{%- for column in columns %}{% do rendered.append("coalesce(cast(" ~ column ~ " as varchar), 'null')") %}{% endfor %}
{%- do parts.append(
    "select '" ~ rule ~ "' as rule, '" ~ columns | join(', ') ~ "' as column_name, concat_ws(', ', " ~ rendered | join(', ') ~ ") as value, occurrences as failing_rows\n"
    ~ "from (\n" ~ duplicate_keys(model, columns, where=where) ~ "\n)") %}
{%- endfor %}

{%- for column, reference in relationships.items() %}
{%- set where = reference.get('where') %}
{%- do parts.append(
    "select 'relationships to " ~ reference['to'].identifier ~ "." ~ reference['field']
    ~ (" where " ~ (where | replace("'", "''")) if where else "") ~ "' as rule, 'account_id, " ~ column
    ~ "' as column_name, concat_ws(', ', children.account_id, children." ~ column ~ ") as value, count(*) as failing_rows\n"
    ~ "from (select account_id, " ~ column ~ " from " ~ model ~ " where " ~ column ~ " is not null"
    ~ (" and (" ~ where ~ ")" if where else "") ~ ") as children\n"
    ~ "left join (select account_id, " ~ reference['field'] ~ " as ref_id from " ~ reference['to'] ~ ") as parents\n"
    ~ "    on parents.account_id = children.account_id and parents.ref_id = children." ~ column ~ "\n"
    ~ "where parents.ref_id is null\n"
    ~ "group by children.account_id, children." ~ column) %}
{%- endfor %}

{{ parts | join("\nunion all\n") if parts else "select null::varchar as rule, null::varchar as column_name, null::varchar as value, 0 as failing_rows where false" }}
{% endtest %}
