{{ bi_manager_activity('week') }}
