{{ bi_manager_activity('month') }}
