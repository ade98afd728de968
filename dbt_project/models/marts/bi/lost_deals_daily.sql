{{ bi_lost_deals('day') }}
