-- The change generator of the refresh benchmarks (bench/refresh.sh, bench/sql_families.sh):
-- scratch tables and bench_make_changes(seed, n, customers), which fills bench_chg with one
-- change set of orders: n changes (70% updates, 15% deletes, 15% inserts), deterministic for a
-- seed: every random number is drawn in one pass over generate_series, ids are picked in draw
-- order, so neither plans nor the physical order of orders change the outcome.
-- Expects orders (id, customer_id, region_id, amount, qty, created).
CREATE TABLE bench_rnd (g int PRIMARY KEY, r1 float8, r2 float8, r3 float8, r4 float8, r5 float8, r6 float8);
CREATE TABLE bench_chg (op "char" NOT NULL, id int PRIMARY KEY, customer_id int, region_id int,
                        amount numeric(12,2), qty int, created date);

CREATE FUNCTION bench_make_changes(p_seed float8, p_n int, p_ncust int) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    nu int := round(p_n * 0.70);
    nd int := round(p_n * 0.15);
    ni int := p_n - round(p_n * 0.70)::int - round(p_n * 0.15)::int;
    maxid int;
    got text;
BEGIN
    PERFORM setseed(p_seed);
    SELECT max(id) INTO maxid FROM orders;
    TRUNCATE bench_rnd, bench_chg;
    INSERT INTO bench_rnd
    SELECT g, random(), random(), random(), random(), random(), random()
    FROM generate_series(1, greatest(3 * (nu + nd), ni)) g;
    -- existing ids, first draw wins; the first nu become updates, the next nd deletes
    INSERT INTO bench_chg
    SELECT CASE WHEN p.rn <= nu THEN 'U' ELSE 'D' END, p.id,
           CASE WHEN r.r4 < 0.1 THEN 1 + floor(r.r5 * p_ncust)::int ELSE o.customer_id END,
           CASE WHEN r.r4 < 0.1 THEN 1 + floor(r.r6 * 10)::int ELSE o.region_id END,
           round((r.r2 * 1000)::numeric, 2), 1 + floor(r.r3 * 10)::int, o.created
    FROM (SELECT f.id, f.g, row_number() OVER (ORDER BY f.g) AS rn
          FROM (SELECT DISTINCT ON (id) id, g
                FROM (SELECT g, 1 + floor(r1 * maxid)::int AS id FROM bench_rnd) c
                ORDER BY id, g) f
          WHERE EXISTS (SELECT 1 FROM orders o WHERE o.id = f.id)) p
    JOIN bench_rnd r ON r.g = p.g
    JOIN orders o ON o.id = p.id
    WHERE p.rn <= nu + nd;
    INSERT INTO bench_chg
    SELECT 'I', maxid + g, 1 + floor(r5 * p_ncust)::int, 1 + floor(r4 * 10)::int,
           round((r2 * 1000)::numeric, 2), 1 + floor(r3 * 10)::int,
           date '2024-01-01' + floor(r6 * 365)::int
    FROM bench_rnd WHERE g <= ni;
    SELECT string_agg(op::text || '=' || n, ' ' ORDER BY op) INTO got
    FROM (SELECT op, count(*) AS n FROM bench_chg GROUP BY op) s;
    RETURN got;
END $$;
