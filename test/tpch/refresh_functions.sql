-- TPC-H refresh functions for the pg_trickle TPC-H test and benchmark (test/tpch/).
--
-- RF1 inserts new orders with their lineitems, RF2 deletes orders with their lineitems (as in
-- the TPC-H specification, section 2.5), and tpch_rf_update changes values in place, which the
-- spec does not do but which incremental maintenance must handle: quantities, prices and
-- discounts of lineitems, receipt dates of lineitems, status, total price and priority of
-- orders, customers' account balances, partsupp's supply cost and available quantity, and
-- suppliers' account balances.
--
-- Every function takes a round number and a seed and is deterministic for them (given the same
-- database state): rows are chosen and values drawn by tpch_h() of generate.sql, a hash of
-- (seed, table, row key, column), never by random() or by the order of a plan. `pct` is the
-- share of the table touched, in percent (default 0.1, the spec's 0.1% of orders per refresh
-- function); the benchmark uses 1.
--
-- Needs generate.sql (tpch_h, tpch_u, tpch_load_orders) in the same schema; names no schema.
--
--     SELECT tpch_rf1(round, seed, pct);        -- new orders: returns the number of orders
--     SELECT tpch_rf2(round, seed, pct);        -- deleted orders: returns the number of orders
--     SELECT tpch_rf_update(round, seed, pct [, small_factor]);  -- updates: rows updated
--     SELECT tpch_round(round, seed, pct [, small_factor]);      -- all three, in that order
--     SELECT tpch_rf_hot(round, seed);          -- targeted updates of rows the selective
--                                               -- queries read (the test's extra churn)

-- RF1: about pct% of the current number of orders (at least one) new orders, with keys above
-- every existing order key, each with 1..7 lineitems drawn like the generator's.
CREATE OR REPLACE FUNCTION tpch_rf1(round integer, seed integer DEFAULT 1,
                                    pct double precision DEFAULT 0.1)
RETURNS integer LANGUAGE plpgsql AS $f$
DECLARE
    n     integer;
    first integer;
BEGIN
    SELECT greatest(1, round(count(*) * pct / 100.0)) INTO n FROM orders;
    SELECT 1 + greatest(coalesce((SELECT max(o_orderkey) FROM orders), 0),
                        coalesce((SELECT max(l_orderkey) FROM lineitem), 0))
      INTO first;
    -- a generator seed of its own for every (seed, round)
    PERFORM tpch_load_orders(tpch_h(seed, 20, round, 0), first, n);
    RETURN n;
END
$f$;

-- RF2: deletes the orders whose hash for (seed, round) falls in the first pct% (so about pct%
-- of them), and their lineitems.
CREATE OR REPLACE FUNCTION tpch_rf2(round integer, seed integer DEFAULT 1,
                                   pct double precision DEFAULT 0.1)
RETURNS integer LANGUAGE plpgsql AS $f$
DECLARE
    s      constant bigint := tpch_h(seed, 21, round, 0);
    cutoff constant bigint := round(pct * 1000);  -- out of 100000
    n      integer;
BEGIN
    DELETE FROM lineitem WHERE tpch_h(s, 7, l_orderkey, 0) % 100000 < cutoff;
    DELETE FROM orders WHERE tpch_h(s, 7, o_orderkey, 0) % 100000 < cutoff;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$f$;

-- Updates in place, each on about pct% of the rows of its table (chosen by a hash of the key
-- for (seed, round)), small_factor times that share of customer, partsupp and supplier (default
-- 10: at the test's small scale and share, those small tables would otherwise see few changes).
-- Lineitems keep l_extendedprice = l_quantity * p_retailprice.
CREATE OR REPLACE FUNCTION tpch_rf_update(round integer, seed integer DEFAULT 1,
                                          pct double precision DEFAULT 0.1,
                                          small_factor double precision DEFAULT 10)
RETURNS bigint LANGUAGE plpgsql AS $f$
DECLARE
    s      constant bigint := tpch_h(seed, 22, round, 0);
    cutoff constant bigint := round(pct * 1000);  -- out of 100000
    small  constant bigint := round(pct * small_factor * 1000);
    n      bigint;
    total  bigint := 0;
BEGIN
    -- lineitem: new quantity (and so extended price) and discount
    UPDATE lineitem l
       SET l_quantity = q.qty,
           l_extendedprice = q.qty * p.p_retailprice,
           l_discount = (tpch_u(s, 10, l.l_orderkey::bigint * 8 + l.l_linenumber, 2, 0, 10)
                         / 100.0)::numeric(15,2)
      FROM (SELECT l_orderkey AS ok, l_linenumber AS ln,
                   tpch_u(s, 10, l_orderkey::bigint * 8 + l_linenumber, 1, 1, 50)::numeric(15,2)
                       AS qty
              FROM lineitem
             WHERE tpch_h(s, 10, l_orderkey::bigint * 8 + l_linenumber, 0) % 100000 < cutoff) q,
           part p
     WHERE l.l_orderkey = q.ok AND l.l_linenumber = q.ln AND p.p_partkey = l.l_partkey;
    GET DIAGNOSTICS n = ROW_COUNT;
    total := total + n;

    -- lineitem: a receipt date moved around the commit date (late / on time flips)
    UPDATE lineitem
       SET l_receiptdate = greatest(l_shipdate + 1,
               l_commitdate + tpch_u(s, 11, l_orderkey::bigint * 8 + l_linenumber, 1, -10, 10)::integer)
     WHERE tpch_h(s, 11, l_orderkey::bigint * 8 + l_linenumber, 0) % 100000 < cutoff;
    GET DIAGNOSTICS n = ROW_COUNT;
    total := total + n;

    -- orders: status, total price, priority
    UPDATE orders
       SET o_orderstatus = (ARRAY['F', 'O', 'P'])[1 + tpch_u(s, 12, o_orderkey, 1, 0, 2)],
           o_totalprice = greatest(0.00, o_totalprice
                                   + tpch_u(s, 12, o_orderkey, 2, -1000000, 1000000) / 100.0),
           o_orderpriority = tpch_pick(ARRAY['1-URGENT', '2-HIGH', '3-MEDIUM', '4-NOT SPECIFIED',
                                             '5-LOW'], tpch_h(s, 12, o_orderkey, 3))
     WHERE tpch_h(s, 12, o_orderkey, 0) % 100000 < cutoff;
    GET DIAGNOSTICS n = ROW_COUNT;
    total := total + n;

    -- customer: account balance (small_factor times the share)
    UPDATE customer
       SET c_acctbal = tpch_acctbal(s, 13, c_custkey, 1)
     WHERE tpch_h(s, 13, c_custkey, 0) % 100000 < small;
    GET DIAGNOSTICS n = ROW_COUNT;
    total := total + n;

    -- partsupp: supply cost and available quantity (small_factor times the share)
    UPDATE partsupp
       SET ps_supplycost = (tpch_u(s, 14, ps_partkey::bigint * 65536 + ps_suppkey, 1, 100, 100000)
                            / 100.0)::numeric(15,2),
           ps_availqty = tpch_u(s, 14, ps_partkey::bigint * 65536 + ps_suppkey, 2, 1, 9999)
     WHERE tpch_h(s, 14, ps_partkey::bigint * 65536 + ps_suppkey, 0) % 100000 < small;
    GET DIAGNOSTICS n = ROW_COUNT;
    total := total + n;

    -- supplier: account balance (small_factor times the share, at least one supplier per round)
    UPDATE supplier
       SET s_acctbal = tpch_acctbal(s, 15, s_suppkey, 1)
     WHERE tpch_h(s, 15, s_suppkey, 0) % 100000 < small
        OR s_suppkey = 1 + tpch_h(s, 15, 0, 2) % (SELECT max(s_suppkey) FROM supplier);
    GET DIAGNOSTICS n = ROW_COUNT;
    total := total + n;
    RETURN total;
END
$f$;

-- Updates k lineitems chosen among those that satisfy predicate (SQL over lineitem l), by a hash
-- of their key: a new quantity (half of them 1..6, so that Q17's "less than a fifth of the
-- average" flips; l_extendedprice follows), a new discount, and a receipt date moved around the
-- commit date. extra_set: more "column = expression" assignments (x.rn is the row's hash key).
CREATE OR REPLACE FUNCTION tpch_hot_lineitems(s bigint, tag integer, k integer, predicate text,
                                              extra_set text DEFAULT '')
RETURNS bigint LANGUAGE plpgsql AS $f$
DECLARE
    n bigint;
BEGIN
    EXECUTE format($q$
        UPDATE lineitem l
           SET l_quantity = x.qty,
               l_extendedprice = x.qty * p.p_retailprice,
               l_discount = x.disc,
               l_receiptdate = greatest(l.l_shipdate + 1, l.l_commitdate + x.shift) %s
          FROM (SELECT ok, ln, rn,
                       (CASE WHEN tpch_h($1, $2, rn, 1) %% 2 = 0
                             THEN tpch_u($1, $2, rn, 2, 1, 6)
                             ELSE tpch_u($1, $2, rn, 2, 7, 50) END)::numeric(15,2) AS qty,
                       (tpch_u($1, $2, rn, 3, 0, 10) / 100.0)::numeric(15,2) AS disc,
                       tpch_u($1, $2, rn, 4, -10, 10)::integer AS shift
                  FROM (SELECT l.l_orderkey AS ok, l.l_linenumber AS ln,
                               l.l_orderkey::bigint * 8 + l.l_linenumber AS rn
                          FROM lineitem l
                         WHERE %s
                         ORDER BY tpch_h($1, $2, l.l_orderkey::bigint * 8 + l.l_linenumber, 0),
                                  l.l_orderkey, l.l_linenumber
                         LIMIT $3) c) x,
               part p
         WHERE l.l_orderkey = x.ok AND l.l_linenumber = x.ln AND p.p_partkey = l.l_partkey
        $q$, extra_set, predicate)
    USING s, tag, k;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$f$;

-- Targeted updates ("hot spots"): a few rows among those that the selective queries read, so
-- that a round of a few tenths of a percent of churn at a small scale factor still changes the
-- results of Q2, Q3, Q7, Q8, Q10, Q15..Q21 (random 0.1% updates rarely reach them). Not part of
-- the TPC-H refresh functions; the test uses it, the benchmark does not. Deterministic for
-- (round, seed) and the database state. Returns the number of rows updated.
CREATE OR REPLACE FUNCTION tpch_rf_hot(round integer, seed integer DEFAULT 1)
RETURNS bigint LANGUAGE plpgsql AS $f$
DECLARE
    s     constant bigint := tpch_h(seed, 23, round, 0);
    n     bigint;
    total bigint := 0;
    ok    integer;
BEGIN
    -- Q3: BUILDING orders before 1995-03-15 with lineitems shipped after
    total := total + tpch_hot_lineitems(s, 30, 3, $p$l.l_shipdate > DATE '1995-03-15' AND EXISTS (
        SELECT FROM orders o JOIN customer c ON c.c_custkey = o.o_custkey
        WHERE o.o_orderkey = l.l_orderkey AND c.c_mktsegment = 'BUILDING'
          AND o.o_orderdate < DATE '1995-03-15')$p$);
    -- Q7: shipped 1995..1996 between a French supplier and a German customer or back
    total := total + tpch_hot_lineitems(s, 31, 3, $p$l.l_shipdate BETWEEN DATE '1995-01-01'
        AND DATE '1996-12-31' AND EXISTS (
            SELECT FROM supplier, nation n1, orders, customer, nation n2
            WHERE s_suppkey = l.l_suppkey AND s_nationkey = n1.n_nationkey
              AND o_orderkey = l.l_orderkey AND c_custkey = o_custkey
              AND c_nationkey = n2.n_nationkey
              AND ((n1.n_name = 'FRANCE' AND n2.n_name = 'GERMANY')
                   OR (n1.n_name = 'GERMANY' AND n2.n_name = 'FRANCE')))$p$);
    -- Q8: parts of type ECONOMY ANODIZED STEEL
    total := total + tpch_hot_lineitems(s, 32, 3, $p$EXISTS (SELECT FROM part
        WHERE p_partkey = l.l_partkey AND p_type = 'ECONOMY ANODIZED STEEL')$p$);
    -- Q10: returned lineitems of orders of 1993-Q4 of the current top 20 customers
    total := total + tpch_hot_lineitems(s, 33, 3, $p$l.l_returnflag = 'R' AND EXISTS (
        SELECT FROM orders WHERE o_orderkey = l.l_orderkey
        AND o_orderdate >= DATE '1993-10-01' AND o_orderdate < DATE '1994-01-01'
        AND o_custkey IN (
            SELECT o_custkey FROM orders JOIN lineitem ON l_orderkey = o_orderkey
            WHERE l_returnflag = 'R' AND o_orderdate >= DATE '1993-10-01'
              AND o_orderdate < DATE '1994-01-01'
            GROUP BY o_custkey
            ORDER BY sum(l_extendedprice * (1 - l_discount)) DESC, o_custkey LIMIT 20))$p$);
    -- Q15: shipped in 1996-Q1, and lineitems of the current top supplier of that quarter
    total := total + tpch_hot_lineitems(s, 34, 3, $p$l.l_shipdate >= DATE '1996-01-01'
        AND l.l_shipdate < DATE '1996-04-01'$p$);
    total := total + tpch_hot_lineitems(s, 35, 2, $p$l.l_shipdate >= DATE '1996-01-01'
        AND l.l_shipdate < DATE '1996-04-01' AND l.l_suppkey = (
            SELECT l_suppkey FROM lineitem WHERE l_shipdate >= DATE '1996-01-01'
            AND l_shipdate < DATE '1996-04-01' GROUP BY l_suppkey
            ORDER BY sum(l_extendedprice * (1 - l_discount)) DESC, l_suppkey LIMIT 1)$p$);
    -- Q14: shipped in 1995-09 (what random churn of a small database may miss in a round,
    -- and updates of other columns are skipped by its refresh)
    total := total + tpch_hot_lineitems(s, 50, 2, $p$l.l_shipdate >= DATE '1995-09-01'
        AND l.l_shipdate < DATE '1995-10-01'$p$);
    -- Q17: parts Brand#23 / MED BOX
    total := total + tpch_hot_lineitems(s, 36, 3, $p$EXISTS (SELECT FROM part
        WHERE p_partkey = l.l_partkey AND p_brand = 'Brand#23' AND p_container = 'MED BOX')$p$);
    -- Q19: parts of one of its three branches; ship mode and instruction flip in and out
    total := total + tpch_hot_lineitems(s, 37, 4, $p$EXISTS (SELECT FROM part
        WHERE p_partkey = l.l_partkey AND (
            (p_brand = 'Brand#12' AND p_container IN ('SM CASE', 'SM BOX', 'SM PACK', 'SM PKG')
             AND p_size BETWEEN 1 AND 5)
         OR (p_brand = 'Brand#23' AND p_container IN ('MED BAG', 'MED BOX', 'MED PKG', 'MED PACK')
             AND p_size BETWEEN 1 AND 10)
         OR (p_brand = 'Brand#34' AND p_container IN ('LG CASE', 'LG BOX', 'LG PACK', 'LG PKG')
             AND p_size BETWEEN 1 AND 15)))$p$,
        $e$, l_shipmode = CASE WHEN tpch_h($1, $2, x.rn, 5) % 3 = 0 THEN 'TRUCK' ELSE 'AIR' END,
             l_shipinstruct = CASE WHEN tpch_h($1, $2, x.rn, 6) % 3 = 0 THEN 'NONE'
                                   ELSE 'DELIVER IN PERSON' END$e$);
    -- Q20: forest parts from Canadian suppliers shipped in 1994
    total := total + tpch_hot_lineitems(s, 38, 3, $p$l.l_shipdate >= DATE '1994-01-01'
        AND l.l_shipdate < DATE '1995-01-01' AND EXISTS (SELECT FROM part
        WHERE p_partkey = l.l_partkey AND p_name LIKE 'forest%') AND EXISTS (
        SELECT FROM supplier JOIN nation ON n_nationkey = s_nationkey
        WHERE s_suppkey = l.l_suppkey AND n_name = 'CANADA')$p$);
    -- Q21: lineitems of suppliers from SAUDI ARABIA in orders with status F, more than one
    -- supplier and no other supplier late (late / on time flips)
    total := total + tpch_hot_lineitems(s, 39, 4, $p$EXISTS (SELECT FROM supplier JOIN nation
        ON n_nationkey = s_nationkey WHERE s_suppkey = l.l_suppkey AND n_name = 'SAUDI ARABIA')
        AND EXISTS (SELECT FROM orders WHERE o_orderkey = l.l_orderkey AND o_orderstatus = 'F')
        AND EXISTS (SELECT FROM lineitem l2 WHERE l2.l_orderkey = l.l_orderkey
                    AND l2.l_suppkey <> l.l_suppkey)
        AND NOT EXISTS (SELECT FROM lineitem l3 WHERE l3.l_orderkey = l.l_orderkey
                        AND l3.l_suppkey <> l.l_suppkey AND l3.l_receiptdate > l3.l_commitdate)$p$);

    -- Q18: one order over the threshold loses quantity, one order of six or seven lineitems
    -- gets the largest quantities (and so goes over it).
    UPDATE lineitem l
       SET l_quantity = 1, l_extendedprice = p.p_retailprice
      FROM part p
     WHERE p.p_partkey = l.l_partkey AND l.l_linenumber = 1
       AND l.l_orderkey = (SELECT l_orderkey FROM lineitem GROUP BY l_orderkey
                           HAVING sum(l_quantity) > 300
                           ORDER BY tpch_h(s, 40, l_orderkey, 0), l_orderkey LIMIT 1);
    GET DIAGNOSTICS n = ROW_COUNT;
    total := total + n;
    SELECT l_orderkey INTO ok FROM lineitem GROUP BY l_orderkey
     HAVING count(*) >= 6 AND sum(l_quantity) <= 300
     ORDER BY tpch_h(s, 41, l_orderkey, 0), l_orderkey LIMIT 1;
    UPDATE lineitem l
       SET l_quantity = 50, l_extendedprice = 50 * p.p_retailprice
      FROM part p
     WHERE p.p_partkey = l.l_partkey AND l.l_orderkey = ok;
    GET DIAGNOSTICS n = ROW_COUNT;
    total := total + n;

    -- Q2: supply costs of size-15 brass parts from European suppliers (the minimum moves)
    UPDATE partsupp
       SET ps_supplycost = (tpch_u(s, 42, ps_partkey::bigint * 65536 + ps_suppkey, 1, 100, 100000)
                            / 100.0)::numeric(15,2)
     WHERE (ps_partkey, ps_suppkey) IN (
         SELECT ps_partkey, ps_suppkey FROM partsupp
           JOIN part ON p_partkey = ps_partkey
           JOIN supplier ON s_suppkey = ps_suppkey
           JOIN nation ON n_nationkey = s_nationkey
           JOIN region ON r_regionkey = n_regionkey
          WHERE p_size = 15 AND p_type LIKE '%BRASS' AND r_name = 'EUROPE'
          ORDER BY tpch_h(s, 42, ps_partkey::bigint * 65536 + ps_suppkey, 0), ps_partkey, ps_suppkey
          LIMIT 3);
    GET DIAGNOSTICS n = ROW_COUNT;
    total := total + n;

    -- Q20: available quantities of forest parts from Canadian suppliers around the threshold
    UPDATE partsupp
       SET ps_availqty = tpch_u(s, 43, ps_partkey::bigint * 65536 + ps_suppkey, 1, 1, 150)
     WHERE (ps_partkey, ps_suppkey) IN (
         SELECT ps_partkey, ps_suppkey FROM partsupp
           JOIN part ON p_partkey = ps_partkey
           JOIN supplier ON s_suppkey = ps_suppkey
           JOIN nation ON n_nationkey = s_nationkey
          WHERE p_name LIKE 'forest%' AND n_name = 'CANADA'
          ORDER BY tpch_h(s, 43, ps_partkey::bigint * 65536 + ps_suppkey, 0), ps_partkey, ps_suppkey
          LIMIT 2);
    GET DIAGNOSTICS n = ROW_COUNT;
    total := total + n;

    -- Q16: one supplier's comment turns into a complaint, or stops being one
    UPDATE supplier
       SET s_comment = CASE WHEN s_comment LIKE '%Customer%Complaints%'
                            THEN 'resolved ' || tpch_word(tpch_h(s, 44, s_suppkey, 1))
                            ELSE 'Customer ' || tpch_word(tpch_h(s, 44, s_suppkey, 1))
                                 || ' Complaints' END
     WHERE s_suppkey = 1 + tpch_h(s, 44, 0, 0) % (SELECT max(s_suppkey) FROM supplier);
    GET DIAGNOSTICS n = ROW_COUNT;
    total := total + n;
    RETURN total;
END
$f$;

-- One round: RF1, RF2, updates. Returns a short summary.
CREATE OR REPLACE FUNCTION tpch_round(round integer, seed integer DEFAULT 1,
                                      pct double precision DEFAULT 0.1,
                                      small_factor double precision DEFAULT 10)
RETURNS text LANGUAGE plpgsql AS $f$
DECLARE
    ins integer;
    del integer;
    upd bigint;
BEGIN
    ins := tpch_rf1(round, seed, pct);
    del := tpch_rf2(round, seed, pct);
    upd := tpch_rf_update(round, seed, pct, small_factor);
    RETURN format('round %s: %s orders inserted, %s orders deleted, %s rows updated',
                  round, ins, del, upd);
END
$f$;
