-- A deterministic, seedable TPC-H data generator written in SQL (test/tpch/).
--
-- This is not TPC's dbgen and does not reproduce its output. It follows the value domains of
-- the TPC-H specification closely enough for the 22 queries (test/tpch/queries/) to return
-- non-trivial results: the spec's row counts per scale factor, its word lists for types,
-- containers, segments, priorities, instructions and ship modes, brands 'Brand#MN', phone country
-- codes 10..34 (nation key + 10), dates 1992..1998 with ship/commit/receipt dates derived from the
-- order date, return flag and line status decided by the 1995-06-17 "current date", order status
-- and total price derived from the order's lineitems, a third of the customers without orders,
-- a few suppliers whose comment matches '%Customer%Complaints%' and a few orders whose comment
-- matches '%special%requests%'.
--
-- Determinism: every value is a function of (seed, table, row number, column) through
-- tpch_h(), which is built on PostgreSQL's hashint8extended(). Nothing uses random() and
-- nothing depends on the order in which a plan produces rows, so the same seed and scale factor
-- give the same database whatever the plan, parallelism or PostgreSQL build (the hash functions
-- are stable across platforms of one major version).
--
-- Usage (in the schema of test/tpch/schema.sql, through the search_path; this script names no
-- schema and creates its functions in the first schema of the search_path):
--     SELECT tpch_generate(0.01, 42);   -- scale factor, seed; returns the number of lineitems
-- Row counts: region 5, nation 25, supplier 10000*SF, customer 150000*SF, part 200000*SF,
-- partsupp 4 per part, orders 1500000*SF, lineitem 1..7 per order (about 4 on average).
-- SF 0.01 loads in about a second.

-- A non-negative 63-bit pseudo-random number for (seed, table, row, column).
CREATE OR REPLACE FUNCTION tpch_h(seed bigint, tbl integer, rn bigint, col integer)
RETURNS bigint LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT hashint8extended(rn, hashint8extended(seed, (tbl::bigint << 20) + col))
           & 9223372036854775807
$$;

-- A pseudo-random integer in [lo, hi].
CREATE OR REPLACE FUNCTION tpch_u(seed bigint, tbl integer, rn bigint, col integer, lo bigint, hi bigint)
RETURNS bigint LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT lo + tpch_h(seed, tbl, rn, col) % (hi - lo + 1)
$$;

-- Element 1 + (h mod n) of a word list.
CREATE OR REPLACE FUNCTION tpch_pick(words text[], h bigint)
RETURNS text LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT words[1 + h % cardinality(words)]
$$;

-- Filler words for comments. 'special' and 'requests' are among them, so that a few comments
-- match '%special%requests%' by chance as well as the ones made to.
CREATE OR REPLACE FUNCTION tpch_word(h bigint)
RETURNS text LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT tpch_pick(ARRAY[
        'quickly', 'slowly', 'carefully', 'furiously', 'boldly', 'evenly', 'blithely', 'ironic',
        'final', 'pending', 'regular', 'express', 'bold', 'silent', 'unusual', 'daring',
        'deposits', 'accounts', 'packages', 'pinto', 'beans', 'theodolites', 'instructions',
        'foxes', 'ideas', 'platelets', 'dolphins', 'asymptotes', 'sheaves', 'frets', 'warhorses',
        'sleep', 'wake', 'haggle', 'nag', 'cajole', 'detect', 'integrate', 'boost', 'affix',
        'among', 'across', 'above', 'along', 'about', 'after', 'special', 'requests'], h)
$$;

-- Colour words for part names (Q9 looks for '%green%', Q20 for 'forest%').
CREATE OR REPLACE FUNCTION tpch_color(h bigint)
RETURNS text LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT tpch_pick(ARRAY[
        'almond', 'antique', 'aquamarine', 'azure', 'beige', 'bisque', 'black', 'blue', 'blush',
        'brown', 'burlywood', 'chartreuse', 'chiffon', 'chocolate', 'coral', 'cornflower',
        'cornsilk', 'cream', 'cyan', 'dark', 'deep', 'dim', 'drab', 'firebrick', 'floral',
        'forest', 'frosted', 'ghost', 'goldenrod', 'green', 'grey', 'honeydew', 'hot', 'indian',
        'ivory', 'khaki', 'lace', 'lavender', 'lawn', 'lemon', 'light', 'lime', 'linen',
        'magenta', 'maroon', 'medium', 'metallic', 'midnight', 'mint', 'misty', 'moccasin',
        'navy', 'olive', 'orange', 'orchid', 'pale', 'papaya', 'peach', 'pink', 'plum',
        'powder', 'puff', 'purple', 'red', 'rose', 'rosy', 'royal', 'saddle', 'salmon', 'sandy',
        'seashell', 'sienna', 'sky', 'slate', 'smoke', 'snow', 'spring', 'steel', 'tan',
        'thistle', 'tomato', 'turquoise', 'violet', 'wheat', 'white', 'yellow'], h)
$$;

-- A comment of five filler words, cut to maxlen characters.
CREATE OR REPLACE FUNCTION tpch_comment(seed bigint, tbl integer, rn bigint, col integer, maxlen integer)
RETURNS text LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT left(tpch_word(tpch_h(seed, tbl, rn, col * 16 + 0)) || ' ' ||
                tpch_word(tpch_h(seed, tbl, rn, col * 16 + 1)) || ' ' ||
                tpch_word(tpch_h(seed, tbl, rn, col * 16 + 2)) || ' ' ||
                tpch_word(tpch_h(seed, tbl, rn, col * 16 + 3)) || ' ' ||
                tpch_word(tpch_h(seed, tbl, rn, col * 16 + 4)), maxlen)
$$;

-- A street-address-like string of 10..40 letters and digits.
CREATE OR REPLACE FUNCTION tpch_address(seed bigint, tbl integer, rn bigint, col integer)
RETURNS text LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT left(translate(md5(seed::text || '/' || tbl || '/' || rn || '/' || col)
                          || md5(rn::text || '/' || col || '/' || seed),
                          '0123456789', 'qrstuvwxyz0'),
                tpch_u(seed, tbl, rn, col, 10, 40)::integer)
$$;

-- A phone number 'CC-ddd-ddd-dddd' whose country code is the nation key + 10.
CREATE OR REPLACE FUNCTION tpch_phone(nationkey integer, seed bigint, tbl integer, rn bigint, col integer)
RETURNS text LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT (nationkey + 10)::text || '-' || tpch_u(seed, tbl, rn, col * 16 + 0, 100, 999) || '-'
           || tpch_u(seed, tbl, rn, col * 16 + 1, 100, 999) || '-'
           || tpch_u(seed, tbl, rn, col * 16 + 2, 1000, 9999)
$$;

-- An account balance in [-999.99, 9999.99].
CREATE OR REPLACE FUNCTION tpch_acctbal(seed bigint, tbl integer, rn bigint, col integer)
RETURNS numeric LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT (tpch_u(seed, tbl, rn, col, -99999, 999999) / 100.0)::numeric(15,2)
$$;

-- The i-th (0..3) supplier of part pk, out of nsupp suppliers: four different suppliers per part
-- (nsupp >= 4), and every supplier supplies about as many parts as any other. Lineitems take
-- their supplier from the same function, so every (l_partkey, l_suppkey) is in partsupp.
CREATE OR REPLACE FUNCTION tpch_ps_supp(pk bigint, i integer, nsupp integer)
RETURNS integer LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT ((pk - 1 + i * (nsupp / 4) + (pk - 1) / nsupp) % nsupp)::integer + 1
$$;

-- Inserts the n orders first_key .. first_key + n - 1 and their lineitems, drawing every value
-- from gseed and the order key. Customers, parts and suppliers must be loaded (their keys are
-- 1..max, as tpch_generate makes them). Used by tpch_generate and by RF1 (refresh_functions.sql).
-- Returns the number of lineitems inserted.
CREATE OR REPLACE FUNCTION tpch_load_orders(gseed bigint, first_key integer, n integer)
RETURNS bigint LANGUAGE plpgsql AS $f$
DECLARE
    ncust   integer;
    npart   integer;
    nsupp   integer;
    nclerk  integer;
    nlines  bigint;
    -- order dates: 1992-01-01 .. 151 days before 1998-12-31
    ndays   constant integer := (DATE '1998-12-31' - 151) - DATE '1992-01-01';
    last_key constant integer := first_key + n - 1;
BEGIN
    IF n <= 0 THEN
        RETURN 0;
    END IF;
    SELECT max(c_custkey) INTO ncust FROM customer;
    SELECT max(p_partkey) INTO npart FROM part;
    SELECT max(s_suppkey) INTO nsupp FROM supplier;
    IF ncust IS NULL OR npart IS NULL OR nsupp IS NULL OR nsupp < 4 THEN
        RAISE EXCEPTION 'tpch_load_orders: customer, part and supplier (at least 4) must be loaded';
    END IF;
    nclerk := greatest(1, nsupp / 10);

    INSERT INTO lineitem (l_orderkey, l_partkey, l_suppkey, l_linenumber, l_quantity,
                          l_extendedprice, l_discount, l_tax, l_returnflag, l_linestatus,
                          l_shipdate, l_commitdate, l_receiptdate, l_shipinstruct, l_shipmode,
                          l_comment)
    SELECT ok, pk, sk, ln, qty, qty * p.p_retailprice, disc, tax,
           CASE WHEN rd <= DATE '1995-06-17'
                THEN CASE WHEN tpch_h(gseed, 8, rn, 9) % 2 = 0 THEN 'R' ELSE 'A' END
                ELSE 'N' END,
           CASE WHEN sd > DATE '1995-06-17' THEN 'O' ELSE 'F' END,
           sd, cd, rd,
           tpch_pick(ARRAY['DELIVER IN PERSON', 'COLLECT COD', 'NONE', 'TAKE BACK RETURN'],
                     tpch_h(gseed, 8, rn, 10)),
           tpch_pick(ARRAY['REG AIR', 'AIR', 'RAIL', 'SHIP', 'TRUCK', 'MAIL', 'FOB'],
                     tpch_h(gseed, 8, rn, 11)),
           tpch_comment(gseed, 8, rn, 12, 44)
    FROM (SELECT ok, ln, rn, pk,
                 tpch_ps_supp(pk, tpch_u(gseed, 8, rn, 2, 0, 3)::integer, nsupp) AS sk,
                 tpch_u(gseed, 8, rn, 3, 1, 50)::numeric(15,2) AS qty,
                 (tpch_u(gseed, 8, rn, 4, 0, 10) / 100.0)::numeric(15,2) AS disc,
                 (tpch_u(gseed, 8, rn, 5, 0, 8) / 100.0)::numeric(15,2) AS tax,
                 sd, cd, sd + tpch_u(gseed, 8, rn, 8, 1, 30)::integer AS rd
          FROM (SELECT ok, ln, rn,
                       tpch_u(gseed, 8, rn, 1, 1, npart) AS pk,
                       od + tpch_u(gseed, 8, rn, 6, 1, 121)::integer AS sd,
                       od + tpch_u(gseed, 8, rn, 7, 30, 90)::integer AS cd
                FROM (SELECT ok, ln, ok::bigint * 8 + ln AS rn,
                             DATE '1992-01-01' + tpch_u(gseed, 7, ok, 2, 0, ndays)::integer AS od
                      FROM generate_series(first_key, last_key) ok,
                           generate_series(1, 7) ln
                      WHERE ln <= tpch_u(gseed, 7, ok, 1, 1, 7)) o) l) x
    JOIN part p ON p.p_partkey = x.pk;
    GET DIAGNOSTICS nlines = ROW_COUNT;

    INSERT INTO orders (o_orderkey, o_custkey, o_orderstatus, o_totalprice, o_orderdate,
                        o_orderpriority, o_clerk, o_shippriority, o_comment)
    SELECT ok,
           -- a third of the customers (keys divisible by 3) never order
           (ck / 2) * 3 + 1 + ck % 2,
           CASE WHEN nf = cnt THEN 'F' WHEN nf = 0 THEN 'O' ELSE 'P' END,
           total,
           DATE '1992-01-01' + tpch_u(gseed, 7, ok, 2, 0, ndays)::integer,
           tpch_pick(ARRAY['1-URGENT', '2-HIGH', '3-MEDIUM', '4-NOT SPECIFIED', '5-LOW'],
                     tpch_h(gseed, 7, ok, 4)),
           'Clerk#' || lpad(tpch_u(gseed, 7, ok, 5, 1, nclerk)::text, 9, '0'),
           0,
           CASE WHEN tpch_u(gseed, 7, ok, 6, 0, 99) < 2
                THEN left(tpch_word(tpch_h(gseed, 7, ok, 7)) || ' special '
                          || tpch_word(tpch_h(gseed, 7, ok, 8)) || ' requests '
                          || tpch_word(tpch_h(gseed, 7, ok, 9)), 79)
                ELSE tpch_comment(gseed, 7, ok, 10, 79) END
    FROM (SELECT l_orderkey AS ok,
                 tpch_u(gseed, 7, l_orderkey, 3, 0, ncust - ncust / 3 - 1) AS ck,
                 count(*) AS cnt,
                 count(*) FILTER (WHERE l_linestatus = 'F') AS nf,
                 round(sum(l_extendedprice * (1 + l_tax) * (1 - l_discount)), 2) AS total
          FROM lineitem
          WHERE l_orderkey BETWEEN first_key AND last_key
          GROUP BY l_orderkey) a;
    RETURN nlines;
END
$f$;

-- Fills the eight tables (emptied first) for scale factor sf with the given seed. Returns the
-- number of lineitems.
CREATE OR REPLACE FUNCTION tpch_generate(sf double precision, seed integer DEFAULT 1)
RETURNS bigint LANGUAGE plpgsql AS $f$
DECLARE
    nsupp   integer := round(10000 * sf);
    ncust   integer := round(150000 * sf);
    npart   integer := round(200000 * sf);
    norders integer := round(1500000 * sf);
    s       constant bigint := seed;
    nlines  bigint;
BEGIN
    IF sf IS NULL OR nsupp < 4 OR ncust < 3 THEN
        RAISE EXCEPTION 'tpch_generate: scale factor must be at least 0.0004, got %', sf;
    END IF;
    TRUNCATE region, nation, supplier, customer, part, partsupp, orders, lineitem;

    INSERT INTO region (r_regionkey, r_name, r_comment)
    SELECT k, name, tpch_comment(s, 1, k, 1, 152)
    FROM unnest(ARRAY['AFRICA', 'AMERICA', 'ASIA', 'EUROPE', 'MIDDLE EAST'])
         WITH ORDINALITY AS r(name, o), LATERAL (SELECT (o - 1)::integer AS k) kk;

    INSERT INTO nation (n_nationkey, n_name, n_regionkey, n_comment)
    SELECT k, name, rk, tpch_comment(s, 2, k, 1, 152)
    FROM (VALUES (0, 'ALGERIA', 0), (1, 'ARGENTINA', 1), (2, 'BRAZIL', 1), (3, 'CANADA', 1),
                 (4, 'EGYPT', 4), (5, 'ETHIOPIA', 0), (6, 'FRANCE', 3), (7, 'GERMANY', 3),
                 (8, 'INDIA', 2), (9, 'INDONESIA', 2), (10, 'IRAN', 4), (11, 'IRAQ', 4),
                 (12, 'JAPAN', 2), (13, 'JORDAN', 4), (14, 'KENYA', 0), (15, 'MOROCCO', 0),
                 (16, 'MOZAMBIQUE', 0), (17, 'PERU', 1), (18, 'CHINA', 2), (19, 'ROMANIA', 3),
                 (20, 'SAUDI ARABIA', 4), (21, 'VIETNAM', 2), (22, 'RUSSIA', 3),
                 (23, 'UNITED KINGDOM', 3), (24, 'UNITED STATES', 1)) AS n(k, name, rk);

    INSERT INTO supplier (s_suppkey, s_name, s_address, s_nationkey, s_phone, s_acctbal, s_comment)
    SELECT k, 'Supplier#' || lpad(k::text, 9, '0'), tpch_address(s, 3, k, 1), nk,
           tpch_phone(nk, s, 3, k, 2), tpch_acctbal(s, 3, k, 3),
           CASE WHEN c < 5 THEN left('Customer ' || tpch_word(tpch_h(s, 3, k, 5)) || ' '
                                     || tpch_word(tpch_h(s, 3, k, 6)) || ' Complaints '
                                     || tpch_word(tpch_h(s, 3, k, 7)), 101)
                WHEN c < 10 THEN left('Customer ' || tpch_word(tpch_h(s, 3, k, 5)) || ' '
                                      || tpch_word(tpch_h(s, 3, k, 6)) || ' Recommends '
                                      || tpch_word(tpch_h(s, 3, k, 7)), 101)
                ELSE tpch_comment(s, 3, k, 8, 101) END
    FROM (SELECT k, tpch_u(s, 3, k, 0, 0, 24)::integer AS nk, tpch_u(s, 3, k, 4, 0, 99) AS c
          FROM generate_series(1, nsupp) k) x;

    INSERT INTO customer (c_custkey, c_name, c_address, c_nationkey, c_phone, c_acctbal,
                          c_mktsegment, c_comment)
    SELECT k, 'Customer#' || lpad(k::text, 9, '0'), tpch_address(s, 4, k, 1), nk,
           tpch_phone(nk, s, 4, k, 2), tpch_acctbal(s, 4, k, 3),
           tpch_pick(ARRAY['AUTOMOBILE', 'BUILDING', 'FURNITURE', 'MACHINERY', 'HOUSEHOLD'],
                     tpch_h(s, 4, k, 4)),
           tpch_comment(s, 4, k, 5, 117)
    FROM (SELECT k, tpch_u(s, 4, k, 0, 0, 24)::integer AS nk
          FROM generate_series(1, ncust) k) x;

    INSERT INTO part (p_partkey, p_name, p_mfgr, p_brand, p_type, p_size, p_container,
                      p_retailprice, p_comment)
    SELECT k,
           tpch_color(tpch_h(s, 5, k, 1)) || ' ' || tpch_color(tpch_h(s, 5, k, 2)) || ' '
           || tpch_color(tpch_h(s, 5, k, 3)) || ' ' || tpch_color(tpch_h(s, 5, k, 4)) || ' '
           || tpch_color(tpch_h(s, 5, k, 5)),
           'Manufacturer#' || m,
           'Brand#' || m || tpch_u(s, 5, k, 7, 1, 5),
           tpch_pick(ARRAY['STANDARD', 'SMALL', 'MEDIUM', 'LARGE', 'ECONOMY', 'PROMO'],
                     tpch_h(s, 5, k, 8)) || ' '
           || tpch_pick(ARRAY['ANODIZED', 'BURNISHED', 'PLATED', 'POLISHED', 'BRUSHED'],
                        tpch_h(s, 5, k, 9)) || ' '
           || tpch_pick(ARRAY['TIN', 'NICKEL', 'BRASS', 'STEEL', 'COPPER'], tpch_h(s, 5, k, 10)),
           tpch_u(s, 5, k, 11, 1, 50),
           tpch_pick(ARRAY['SM', 'LG', 'MED', 'JUMBO', 'WRAP'], tpch_h(s, 5, k, 12)) || ' '
           || tpch_pick(ARRAY['CASE', 'BOX', 'BAG', 'JAR', 'PKG', 'PACK', 'CAN', 'DRUM'],
                        tpch_h(s, 5, k, 13)),
           (tpch_u(s, 5, k, 14, 90000, 209999) / 100.0)::numeric(15,2),
           tpch_comment(s, 5, k, 15, 23)
    FROM (SELECT k, tpch_u(s, 5, k, 6, 1, 5) AS m FROM generate_series(1, npart) k) x;

    INSERT INTO partsupp (ps_partkey, ps_suppkey, ps_availqty, ps_supplycost, ps_comment)
    SELECT k, tpch_ps_supp(k, i, nsupp), tpch_u(s, 6, k * 4 + i, 1, 1, 9999),
           (tpch_u(s, 6, k * 4 + i, 2, 100, 100000) / 100.0)::numeric(15,2),
           tpch_comment(s, 6, k * 4 + i, 3, 199)
    FROM generate_series(1, npart) k, generate_series(0, 3) i;

    nlines := tpch_load_orders(s, 1, norders);
    ANALYZE region, nation, supplier, customer, part, partsupp, orders, lineitem;
    RETURN nlines;
END
$f$;
