{{ stg_custom_field_values('companies__custom_field_values', 'company_id') }}
