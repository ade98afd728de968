{{ stg_custom_field_values('leads__custom_field_values', 'lead_id') }}
