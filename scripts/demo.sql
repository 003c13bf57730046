-- Demo schema: sales and the stream tables over them.
CREATE EXTENSION pg_trickle;

CREATE TABLE regions (region text PRIMARY KEY, manager text NOT NULL);
CREATE TABLE sales (
    id      bigserial PRIMARY KEY,
    region  text NOT NULL REFERENCES regions,
    amount  numeric(12,2) NOT NULL,
    sold_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO regions VALUES ('north', 'Ada'), ('south', 'Grace'), ('east', 'Edsger'), ('west', 'Barbara');
INSERT INTO sales (region, amount)
SELECT (ARRAY['north','south','east','west'])[1 + i % 4], round((random() * 500)::numeric, 2)
FROM generate_series(1, 1000) AS i;

SELECT pgtrickle.create_stream_table('sales_by_region',
    $$SELECT region, count(*) AS orders, sum(amount) AS revenue FROM sales GROUP BY region$$,
    schedule => '1s', refresh_mode => 'FULL');

SELECT pgtrickle.create_stream_table('manager_revenue',
    $$SELECT r.manager, s.revenue FROM sales_by_region s JOIN regions r USING (region)$$,
    schedule => '5s', refresh_mode => 'FULL');

\echo
\echo Stream tables:
SELECT name, status, refresh_mode, is_populated, schedule FROM pgtrickle.pgt_status();
\echo sales_by_region:
SELECT region, orders, revenue FROM sales_by_region ORDER BY region;
