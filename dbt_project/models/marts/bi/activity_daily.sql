{{ bi_manager_activity('day') }}
