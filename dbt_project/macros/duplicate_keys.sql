{#-
  The rows of the uniqueness tests (unique_per_account, unique_combination_of_columns): every value of
  the key `columns` that occurs more than once in `model` (nulls compare equal), with its count, among
  the rows where `where` holds.

  Exact, and cheaper than one `group by <columns>` on a table of millions of rows: the first step groups
  by one 64-bit hash of the key (a hash table of 8-byte numbers instead of the key's strings and
  numbers), which finds every key that occurs more than once, since equal keys hash equal. Only the
  rows whose hash repeats (none, when the test passes) are then grouped by the key itself, so two
  different keys that happen to share a hash are never reported.
-#}
{% macro duplicate_keys(model, columns, where='true') -%}
with key_hashes as (
    select hash({{ columns | join(', ') }}) as key_hash
    from {{ model }}
    where {{ where }}
),

repeated_hashes as (
    select key_hash
    from key_hashes
    group by key_hash
    having count(*) > 1
),

suspects as (
    select {{ columns | join(', ') }}
    from {{ model }}
    where {{ where }}
        and hash({{ columns | join(', ') }}) in (select key_hash from repeated_hashes)
)

select
    {{ columns | join(', ') }},
    count(*) as occurrences
from suspects
group by {{ columns | join(', ') }}
having count(*) > 1
{%- endmacro %}
