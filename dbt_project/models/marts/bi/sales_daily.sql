{{ bi_sales_kpi('day') }}
