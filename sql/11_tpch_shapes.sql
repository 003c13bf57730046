-- TPC-H query shapes in DIFFERENTIAL mode: correlated EXISTS / NOT EXISTS (Q4, Q21, Q22), a LEFT
-- JOIN under a grouped subquery (Q13), NOT IN (Q16), correlated scalar aggregate subqueries (Q2,
-- Q17, Q20, Q22), nested IN (Q20). Small deterministic data (setseed), three rounds of new orders
-- with their lineitems (RF1), deleted orders (RF2) and updates; after each refresh every stream
-- table must equal its query, and the refresh must have been DIFFERENTIAL. (The full TPC-H suite
-- with its own generator is still to come.)
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS tpch CASCADE;
RESET client_min_messages;
CREATE SCHEMA tpch;
SET search_path = tpch, public;
SET pg_trickle.differential_max_change_ratio = 0;
SET pg_trickle.refresh_strategy = 'differential';
SELECT setseed(0.42);
CREATE TABLE nation (n_nationkey int PRIMARY KEY, n_name text, n_regionkey int);
CREATE TABLE supplier (s_suppkey int PRIMARY KEY, s_name text, s_nationkey int, s_acctbal numeric(12,2), s_comment text);
CREATE TABLE customer (c_custkey int PRIMARY KEY, c_name text, c_nationkey int, c_acctbal numeric(12,2), c_phone text, c_mktsegment text);
CREATE TABLE part (p_partkey int PRIMARY KEY, p_name text, p_brand text, p_type text, p_size int, p_container text);
CREATE TABLE partsupp (ps_partkey int, ps_suppkey int, ps_availqty int, ps_supplycost numeric(12,2), PRIMARY KEY (ps_partkey, ps_suppkey));
CREATE TABLE orders (o_orderkey int PRIMARY KEY, o_custkey int, o_orderstatus text, o_totalprice numeric(12,2), o_orderdate date, o_orderpriority text, o_comment text);
CREATE TABLE lineitem (l_orderkey int, l_linenumber int, l_partkey int, l_suppkey int, l_quantity numeric(12,2), l_extendedprice numeric(12,2), l_discount numeric(12,2), l_returnflag text, l_commitdate date, l_receiptdate date, l_shipdate date, PRIMARY KEY (l_orderkey, l_linenumber));
INSERT INTO nation SELECT i, 'N' || i, i % 5 FROM generate_series(0, 9) i;
INSERT INTO supplier SELECT i, 'S' || i, i % 10, (random()*1000)::numeric(12,2), CASE WHEN i % 7 = 0 THEN 'Customer Complaints' ELSE 'ok' END FROM generate_series(1, 20) i;
INSERT INTO customer SELECT i, 'C' || i, i % 10, (random()*2000 - 500)::numeric(12,2), (10 + i % 20)::text || '-555', (ARRAY['AUTO','BUILD','HOUSE'])[1 + i % 3] FROM generate_series(1, 60) i;
INSERT INTO part SELECT i, 'part ' || (ARRAY['green','red','blue'])[1 + i % 3], 'Brand#' || (1 + i % 5), (ARRAY['STD','PROMO','ECON'])[1 + i % 3], 1 + i % 10, (ARRAY['SM BOX','LG CASE'])[1 + i % 2] FROM generate_series(1, 40) i;
INSERT INTO partsupp SELECT p, s, (random()*100)::int, (random()*50)::numeric(12,2) FROM generate_series(1, 40) p, generate_series(1, 20) s WHERE (p + s) % 4 = 0;
INSERT INTO orders SELECT i, 1 + (i * 7) % 60, (ARRAY['F','O','P'])[1 + i % 3], (random()*1000)::numeric(12,2), DATE '1995-01-01' + (i % 300), (ARRAY['1-URGENT','2-HIGH','3-MEDIUM'])[1 + i % 3], CASE WHEN i % 9 = 0 THEN 'special requests' ELSE 'x' END FROM generate_series(1, 200) i;
INSERT INTO lineitem SELECT o, l, 1 + (o * l) % 40, 1 + (o + l) % 20, (1 + (o * l) % 50)::numeric(12,2), (random()*1000)::numeric(12,2), ((o % 10) / 100.0)::numeric(12,2), (ARRAY['R','A','N'])[1 + (o + l) % 3], DATE '1995-01-01' + (o % 300) + l, DATE '1995-01-01' + (o % 300) + l + (o % 7) - 3, DATE '1995-01-01' + (o % 300) + l - 1 FROM generate_series(1, 200) o, generate_series(1, 4) l WHERE (o + l) % 5 <> 0;

SET client_min_messages = warning;
SELECT pgtrickle.create_stream_table('q4', $$SELECT o_orderpriority, count(*) AS order_count FROM orders WHERE o_orderdate >= DATE '1995-03-01' AND o_orderdate < DATE '1995-06-01' AND EXISTS (SELECT 1 FROM lineitem WHERE l_orderkey = o_orderkey AND l_commitdate < l_receiptdate) GROUP BY o_orderpriority$$, refresh_mode => 'DIFFERENTIAL', schedule => '1h');
SELECT pgtrickle.create_stream_table('q13', $$SELECT c_count, count(*) AS custdist FROM (SELECT c_custkey, count(o_orderkey) AS c_count FROM customer LEFT OUTER JOIN orders ON c_custkey = o_custkey AND o_comment NOT LIKE '%special%requests%' GROUP BY c_custkey) AS c_orders GROUP BY c_count$$, refresh_mode => 'DIFFERENTIAL', schedule => '1h');
SELECT pgtrickle.create_stream_table('q16', $$SELECT p_brand, p_type, p_size, count(DISTINCT ps_suppkey) AS supplier_cnt FROM partsupp, part WHERE p_partkey = ps_partkey AND p_brand <> 'Brand#4' AND ps_suppkey NOT IN (SELECT s_suppkey FROM supplier WHERE s_comment LIKE '%Customer%Complaints%') GROUP BY p_brand, p_type, p_size$$, refresh_mode => 'DIFFERENTIAL', schedule => '1h');
SELECT pgtrickle.create_stream_table('q17', $$SELECT sum(l_extendedprice) / 7.0 AS avg_yearly FROM lineitem, part WHERE p_partkey = l_partkey AND p_container = 'SM BOX' AND l_quantity < (SELECT 0.5 * avg(l_quantity) FROM lineitem WHERE l_partkey = p_partkey)$$, refresh_mode => 'DIFFERENTIAL', schedule => '1h');
SELECT pgtrickle.create_stream_table('q20', $$SELECT s_name FROM supplier, nation WHERE s_suppkey IN (SELECT ps_suppkey FROM partsupp WHERE ps_partkey IN (SELECT p_partkey FROM part WHERE p_name LIKE 'part g%') AND ps_availqty > (SELECT 0.5 * sum(l_quantity) FROM lineitem WHERE l_partkey = ps_partkey AND l_suppkey = ps_suppkey)) AND s_nationkey = n_nationkey AND n_name <> 'N3'$$, refresh_mode => 'DIFFERENTIAL', schedule => '1h');
SELECT pgtrickle.create_stream_table('q21', $$SELECT s_name, count(*) AS numwait FROM supplier, lineitem l1, orders, nation WHERE s_suppkey = l1.l_suppkey AND o_orderkey = l1.l_orderkey AND o_orderstatus = 'F' AND l1.l_receiptdate > l1.l_commitdate AND EXISTS (SELECT * FROM lineitem l2 WHERE l2.l_orderkey = l1.l_orderkey AND l2.l_suppkey <> l1.l_suppkey) AND NOT EXISTS (SELECT * FROM lineitem l3 WHERE l3.l_orderkey = l1.l_orderkey AND l3.l_suppkey <> l1.l_suppkey AND l3.l_receiptdate > l3.l_commitdate) AND s_nationkey = n_nationkey GROUP BY s_name$$, refresh_mode => 'DIFFERENTIAL', schedule => '1h');
SELECT pgtrickle.create_stream_table('q22', $$SELECT cntrycode, count(*) AS numcust, sum(c_acctbal) AS totacctbal FROM (SELECT substring(c_phone FROM 1 FOR 2) AS cntrycode, c_acctbal FROM customer WHERE substring(c_phone FROM 1 FOR 2) IN ('13','17','18','23','29') AND c_acctbal > (SELECT avg(c_acctbal) FROM customer WHERE c_acctbal > 0.00 AND substring(c_phone FROM 1 FOR 2) IN ('13','17','18','23','29')) AND NOT EXISTS (SELECT * FROM orders WHERE o_custkey = c_custkey)) AS custsale GROUP BY cntrycode$$, refresh_mode => 'DIFFERENTIAL', schedule => '1h');
SELECT pgtrickle.create_stream_table('q2', $$SELECT s_acctbal, s_name, n_name, p_partkey FROM part, supplier, partsupp, nation WHERE p_partkey = ps_partkey AND s_suppkey = ps_suppkey AND p_size = 5 AND s_nationkey = n_nationkey AND ps_supplycost = (SELECT min(ps_supplycost) FROM partsupp, supplier, nation WHERE p_partkey = ps_partkey AND s_suppkey = ps_suppkey AND s_nationkey = n_nationkey)$$, refresh_mode => 'DIFFERENTIAL', schedule => '1h');

-- EXISTS (SELECT * ...) reads none of its select list: only the columns its conditions use are
-- captured and consolidated (q21's lineitem: what l1, l2 and l3 test; q22's orders: the key and
-- o_custkey).
SELECT s.pgt_name, d.source_relid::regclass AS source, d.columns_used
FROM pgtrickle.pgt_dependencies d JOIN pgtrickle.pgt_stream_tables s USING (pgt_id)
WHERE s.pgt_name IN ('q21', 'q22') AND d.source_relid IN ('tpch.lineitem'::regclass, 'tpch.orders'::regclass)
ORDER BY 1, 2::text;

CREATE FUNCTION tpch.chk() RETURNS TABLE (st text, result text) LANGUAGE plpgsql AS $f$
DECLARE r record; cols text; d bigint;
BEGIN
  FOR r IN SELECT pgt_name, defining_query, pgt_relid::regclass AS rel FROM pgtrickle.pgt_stream_tables WHERE pgt_schema = 'tpch' ORDER BY 1 LOOP
    SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) INTO cols FROM pg_attribute WHERE attrelid = r.rel AND attnum > 0 AND NOT attisdropped AND attname NOT LIKE '\_\_pgt%';
    EXECUTE format('SELECT count(*) FROM ((SELECT %s FROM %s EXCEPT ALL (%s)) UNION ALL ((%s) EXCEPT ALL SELECT %s FROM %s)) x', cols, r.rel, r.defining_query, r.defining_query, cols, r.rel) INTO d;
    st := r.pgt_name; result := CASE WHEN d = 0 THEN 'ok' ELSE 'DIFF ' || d END || ' / ' || (SELECT action FROM pgtrickle.get_refresh_history('tpch.' || r.pgt_name, 1)); RETURN NEXT;
  END LOOP;
END $f$;
CREATE FUNCTION tpch.round_dml(seed float) RETURNS void LANGUAGE plpgsql AS $f$
BEGIN
  PERFORM setseed(seed);
  -- RF1: new orders + lineitems
  INSERT INTO orders SELECT 1000 + i + (seed * 1000)::int, 1 + (random()*59)::int, (ARRAY['F','O','P'])[1 + (random()*2)::int], (random()*1000)::numeric(12,2), DATE '1995-01-01' + (random()*300)::int, '1-URGENT', CASE WHEN random() < 0.2 THEN 'special requests' ELSE 'y' END FROM generate_series(1, 5) i ON CONFLICT DO NOTHING;
  INSERT INTO lineitem SELECT o_orderkey, l, 1 + (random()*39)::int, 1 + (random()*19)::int, (1 + random()*49)::numeric(12,2), (random()*1000)::numeric(12,2), 0.05, 'N', o_orderdate + 3, o_orderdate + (random()*6)::int, o_orderdate + 1 FROM orders, generate_series(1, 3) l WHERE o_orderkey > 1000 AND NOT EXISTS (SELECT 1 FROM lineitem WHERE l_orderkey = o_orderkey) ON CONFLICT DO NOTHING;
  -- RF2: delete some orders + lineitems
  DELETE FROM lineitem WHERE l_orderkey IN (SELECT o_orderkey FROM orders ORDER BY random() LIMIT 4);
  DELETE FROM orders WHERE o_orderkey IN (SELECT o_orderkey FROM orders o WHERE NOT EXISTS (SELECT 1 FROM lineitem WHERE l_orderkey = o.o_orderkey) ORDER BY random() LIMIT 3);
  -- updates
  UPDATE lineitem SET l_quantity = l_quantity + 3, l_receiptdate = l_receiptdate + 2 WHERE random() < 0.03;
  UPDATE customer SET c_acctbal = c_acctbal + 100 WHERE random() < 0.1;
  UPDATE partsupp SET ps_availqty = ps_availqty + 20, ps_supplycost = ps_supplycost - 1 WHERE random() < 0.05;
  UPDATE supplier SET s_comment = CASE WHEN s_comment = 'ok' THEN 'Customer Complaints' ELSE 'ok' END WHERE random() < 0.1;
  UPDATE orders SET o_orderstatus = 'F' WHERE random() < 0.05;
END $f$;
SELECT * FROM chk();
SELECT round_dml(0.1); SELECT count(pgtrickle.refresh_stream_table('tpch.' || pgt_name)) FROM pgtrickle.pgt_stream_tables WHERE pgt_schema = 'tpch'; SELECT * FROM chk();
SELECT round_dml(0.2); SELECT count(pgtrickle.refresh_stream_table('tpch.' || pgt_name)) FROM pgtrickle.pgt_stream_tables WHERE pgt_schema = 'tpch'; SELECT * FROM chk();
SELECT round_dml(0.3); SELECT count(pgtrickle.refresh_stream_table('tpch.' || pgt_name)) FROM pgtrickle.pgt_stream_tables WHERE pgt_schema = 'tpch'; SELECT * FROM chk();
SET client_min_messages = warning;
SELECT count(pgtrickle.drop_stream_table('tpch.' || pgt_name)) FROM pgtrickle.pgt_stream_tables WHERE pgt_schema = 'tpch';
DROP SCHEMA tpch CASCADE;
RESET client_min_messages;
