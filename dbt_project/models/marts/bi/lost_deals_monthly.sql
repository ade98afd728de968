{{ bi_lost_deals('month') }}
