{{ stg_custom_field_values('contacts__custom_field_values', 'contact_id') }}
