{{ bi_lost_deals('week') }}
