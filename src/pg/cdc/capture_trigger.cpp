// The capture trigger: one C function behind every source's statement-level AFTER triggers,
// copying the statement's transition tables into the source's change buffer.
//
// This is every writer's cost, so it does the least it can: per statement it resolves the
// buffer and the column mapping once, takes one change sequence value, and writes the rows with
// table_multi_insert in batches (one WAL record per page instead of one per row, no executor,
// no SQL). The buffer's only index holds TRUNCATE markers (see buffer_ddl and
// add_truncate_marker), so nothing else needs maintaining.
//
// Written as plain C (no C++ object lives in these frames): an ERROR raised inside PostgreSQL
// may longjmp through them safely.
#include "pg_trickle/core/cdc.hpp"
#include "pg_trickle/pg/cdc.hpp"
#include "pg_trickle/pg/postgres.hpp"
#include "pg_trickle/pg/statement_depth.hpp"
#include "pg_trickle/pg/worker.hpp"

extern "C" {
#include "access/detoast.h"
#include "catalog/partition.h"
#include "utils/datum.h"
}

namespace pgtrickle::pg {

// Whether two values of a column are the same value: equal images. Not equal when not sure
// (the caller then takes the column for changed). A value moved out of line is compared by its
// TOAST pointer, not read back: an UPDATE leaving a large value alone keeps its pointer.
bool same_column_value(Datum a, bool a_null, Datum b, bool b_null, Form_pg_attribute att) {
    if (a_null || b_null)
        return a_null && b_null;
    if (att->attlen == -1) {
        const varlena* va = reinterpret_cast<const varlena*>(DatumGetPointer(a));
        const varlena* vb = reinterpret_cast<const varlena*>(DatumGetPointer(b));
        if (VARATT_IS_EXTERNAL(va) || VARATT_IS_EXTERNAL(vb)) {
            if (!VARATT_IS_EXTERNAL_ONDISK(va) || !VARATT_IS_EXTERNAL_ONDISK(vb))
                return false;
            varatt_external pa;
            varatt_external pb;
            VARATT_EXTERNAL_GET_POINTER(pa, va);
            VARATT_EXTERNAL_GET_POINTER(pb, vb);
            return pa.va_valueid == pb.va_valueid && pa.va_toastrelid == pb.va_toastrelid;
        }
        // A value compressed inline: by its bytes as stored (datum_image_eq would decompress
        // both). Equal bytes are the same value; others are taken for changed.
        if (VARATT_IS_COMPRESSED(va) || VARATT_IS_COMPRESSED(vb))
            return VARSIZE_ANY(va) == VARSIZE_ANY(vb) && memcmp(va, vb, VARSIZE_ANY(va)) == 0;
    }
    return datum_image_eq(a, b, att->attbyval, att->attlen);
}

}  // namespace pgtrickle::pg

namespace {

constexpr int kBatch = 1000;
constexpr const char* kChangeSchema = "pgtrickle_changes";

// What one buffer column is filled with.
enum : int { kXid = -1, kSeq = -2, kAction = -3, kChanged = -4, kNull = 0 };

// Per buffer attribute: kXid / kSeq / kAction / kChanged, the source attribute number (> 0)
// whose value it copies, or kNull. The buffer stores a source column under its own name, or with a
// __usr_ prefix when the name is one of the buffer's own (see core::buffer_column).
int* column_map(Relation buffer, Relation source) {
    TupleDesc b = RelationGetDescr(buffer);
    TupleDesc s = RelationGetDescr(source);
    int* map = static_cast<int*>(palloc0(sizeof(int) * static_cast<size_t>(b->natts)));
    for (int i = 0; i < b->natts; ++i) {
        Form_pg_attribute ba = TupleDescAttr(b, i);
        if (ba->attisdropped)
            continue;
        const char* name = NameStr(ba->attname);
        if (strcmp(name, "xid") == 0) {
            map[i] = kXid;
            continue;
        }
        if (strcmp(name, "seq") == 0) {
            map[i] = kSeq;
            continue;
        }
        if (strcmp(name, "action") == 0) {
            map[i] = kAction;
            continue;
        }
        if (strcmp(name, "changed_cols") == 0) {
            map[i] = kChanged;
            continue;
        }
        if (strncmp(name, "__usr_", 6) == 0 && pgtrickle::core::reserved_buffer_name(name + 6))
            name += 6;  // (core::buffer_column; a source column named __usr_... keeps it)
        for (int j = 0; j < s->natts; ++j) {
            Form_pg_attribute sa = TupleDescAttr(s, j);
            if (sa->attisdropped || strcmp(NameStr(sa->attname), name) != 0)
                continue;
            // A type change of a captured column rebuilds the buffer; until then, copying
            // bytes of another type would corrupt it.
            if (sa->atttypid != ba->atttypid)
                ereport(ERROR, (errcode(ERRCODE_DATATYPE_MISMATCH),
                                errmsg("change buffer column \"%s\" of \"%s\" no longer matches "
                                       "its source column",
                                       NameStr(ba->attname), RelationGetRelationName(buffer)),
                                errhint("Drop and recreate the stream tables reading \"%s\".",
                                        RelationGetRelationName(source))));
            map[i] = j + 1;
            break;
        }
    }
    return map;
}

struct Writer {
    Relation buffer;
    // The buffer's descriptor, copied: a copy is not reference-counted, so its slots are not
    // remembered by the resource owner one by one. (PostgreSQL 15's resource arrays hash the
    // descriptor's address: a thousand slots of one descriptor collide on every insertion and
    // removal, which cost a writer more than the copy of its rows did.)
    TupleDesc slot_desc;
    const int* map;
    Datum xid;
    Datum seq;
    // The changed_cols of the rows being added (core::changed_column_bit); null: not known.
    Datum changed;
    bool changed_null;
    CommandId cid;
    BulkInsertState bistate;
    TupleTableSlot** slots;
    int made;  // slots created
    int used;  // slots filled, not yet written
};

void flush(Writer* w) {
    if (w->used == 0)
        return;
    table_multi_insert(w->buffer, w->slots, w->used, w->cid, 0, w->bistate);
    for (int i = 0; i < w->used; ++i)
        ExecClearTuple(w->slots[i]);
    w->used = 0;
}

// Adds one change; `in` holds the source row (NULL for a TRUNCATE marker).
void add(Writer* w, char action, TupleTableSlot* in) {
    if (w->used == w->made)
        w->slots[w->made++] =
            MakeSingleTupleTableSlot(w->slot_desc, table_slot_callbacks(w->buffer));
    TupleTableSlot* out = w->slots[w->used++];
    TupleDesc d = out->tts_tupleDescriptor;
    ExecClearTuple(out);
    for (int i = 0; i < d->natts; ++i) {
        out->tts_isnull[i] = false;
        switch (w->map[i]) {
            case kXid:
                out->tts_values[i] = w->xid;
                break;
            case kSeq:
                out->tts_values[i] = w->seq;
                break;
            case kAction:
                out->tts_values[i] = CharGetDatum(action);
                break;
            case kChanged:
                out->tts_values[i] = w->changed;
                out->tts_isnull[i] = w->changed_null;
                break;
            case kNull:
                out->tts_values[i] = static_cast<Datum>(0);
                out->tts_isnull[i] = true;
                break;
            default:
                if (in == nullptr) {
                    out->tts_values[i] = static_cast<Datum>(0);
                    out->tts_isnull[i] = true;
                } else {
                    out->tts_values[i] = in->tts_values[w->map[i] - 1];
                    out->tts_isnull[i] = in->tts_isnull[w->map[i] - 1];
                }
                break;
        }
    }
    ExecStoreVirtualTuple(out);
    // The values point into the transition table's read buffer, which the next row reuses.
    ExecMaterializeSlot(out);
    if (w->used == kBatch)
        flush(w);
}

void add_all(Writer* w, char action, Tuplestorestate* rows, TupleDesc source_desc) {
    if (rows == nullptr)
        return;
    w->changed_null = true;
    TupleTableSlot* in = MakeSingleTupleTableSlot(source_desc, &TTSOpsMinimalTuple);
    tuplestore_rescan(rows);
    while (tuplestore_gettupleslot(rows, true, false, in)) {
        slot_getallattrs(in);
        add(w, action, in);
    }
    ExecDropSingleTupleTableSlot(in);
}

// An UPDATE's rows, each old row followed by its new one, with the buffer columns whose values
// differ between the two as changed_cols: a stream table using none of them leaves both out
// (DeltaTable::changed_bits). A row none of whose captured columns changed is left out here
// (no stream table would read it); if no row is left, one 'U' row without values tells FULL
// readers, whose columns are not captured, that the table changed. PostgreSQL adds an updated row
// to the two transition tables together, old then new; a row moved to another partition whose
// insert a trigger there skipped has an old row only. So the two are paired only when they hold as
// many rows. (A wrong pairing would still be harmless: two rows with equal values in a reader's
// columns are a net change of nothing to it, whichever rows they are.)
bool add_pairs(Writer* w, Tuplestorestate* old_rows, Tuplestorestate* new_rows,
               TupleDesc source_desc) {
    if (old_rows == nullptr || new_rows == nullptr ||
        tuplestore_tuple_count(old_rows) != tuplestore_tuple_count(new_rows))
        return false;
    TupleDesc b = w->slot_desc;
    TupleTableSlot* o = MakeSingleTupleTableSlot(source_desc, &TTSOpsMinimalTuple);
    TupleTableSlot* n = MakeSingleTupleTableSlot(source_desc, &TTSOpsMinimalTuple);
    bool skipped = false;
    bool written = false;
    tuplestore_rescan(old_rows);
    tuplestore_rescan(new_rows);
    while (tuplestore_gettupleslot(old_rows, true, false, o)) {
        if (!tuplestore_gettupleslot(new_rows, true, false, n))
            break;  // (not reached: as many rows)
        slot_getallattrs(o);
        slot_getallattrs(n);
        uint64 bits = 0;
        for (int i = 0; i < b->natts; ++i) {
            const int j = w->map[i] - 1;
            if (j < 0)
                continue;
            if (!pgtrickle::pg::same_column_value(o->tts_values[j], o->tts_isnull[j],
                                                  n->tts_values[j], n->tts_isnull[j],
                                                  TupleDescAttr(source_desc, j)))
                bits |= pgtrickle::core::changed_column_bit(i + 1);
        }
        if (bits == 0) {
            skipped = true;
            continue;
        }
        w->changed = Int64GetDatum(static_cast<int64>(bits));
        w->changed_null = false;
        add(w, 'D', o);
        add(w, 'I', n);
        written = true;
    }
    if (skipped && !written) {
        w->changed = Int64GetDatum(0);
        w->changed_null = false;
        add(w, 'U', nullptr);
    }
    ExecDropSingleTupleTableSlot(o);
    ExecDropSingleTupleTableSlot(n);
    return true;
}

// A TRUNCATE marker goes in through the executor, so that the buffer's partial index on
// markers (see core::buffer_ddl) gets its entry; changes never match that index's predicate, so
// writing them without index maintenance leaves it complete. As the buffer's owner: the writer
// needs no privilege on pgtrickle_changes (an ERROR restores the user at abort).
void add_truncate_marker(Relation buffer, Datum xid, Datum seq) {
    char sql[128 + NAMEDATALEN];
    snprintf(sql, sizeof(sql), "INSERT INTO %s.%s (xid, seq, action) VALUES ($1, $2, 'T')",
             kChangeSchema, RelationGetRelationName(buffer));
    Oid types[2] = {XID8OID, INT8OID};
    Datum values[2] = {xid, seq};
    Oid saved_user;
    int saved_context;
    GetUserIdAndSecContext(&saved_user, &saved_context);
    SetUserIdAndSecContext(buffer->rd_rel->relowner, saved_context | SECURITY_LOCAL_USERID_CHANGE |
                                                         SECURITY_RESTRICTED_OPERATION);
    if (SPI_connect() != SPI_OK_CONNECT)
        ereport(ERROR, (errmsg("SPI_connect failed")));
    if (SPI_execute_with_args(sql, 2, types, values, nullptr, false, 0) != SPI_OK_INSERT)
        ereport(ERROR, (errmsg("could not record a TRUNCATE in change buffer %s.%s", kChangeSchema,
                               RelationGetRelationName(buffer))));
    SPI_finish();
    SetUserIdAndSecContext(saved_user, saved_context);
}

// The source whose change buffer this trigger writes into: the table it fires on, or, on a
// partition, the partitioned table its name is for (pg_trickle_cdc_<op>_<source OID>), which
// must be one of the partition's ancestors. A statement on a partition fires the partition's
// statement triggers only, not its parents': each member of a captured partition tree carries
// triggers of the root (see sync_partition_capture). InvalidOid: a partition being detached
// from the source (DETACH PARTITION ... CONCURRENTLY, until it is finalized), whose rows are
// no longer the source's: get_partition_ancestors stops at its pending link.
Oid captured_source(Relation rel, const Trigger* trigger) {
    const Oid self = RelationGetRelid(rel);
    if (!rel->rd_rel->relispartition)
        return self;
    const char* suffix = strrchr(trigger->tgname, '_');
    const Oid named =
        suffix != nullptr ? static_cast<Oid>(strtoul(suffix + 1, nullptr, 10)) : InvalidOid;
    List* ancestors = get_partition_ancestors(self);
    const bool ancestor = list_member_oid(ancestors, named);
    const Oid top = ancestors == NIL ? self : llast_oid(ancestors);
    list_free(ancestors);
    if (!ancestor && get_rel_relispartition(top))
        return InvalidOid;  // (still a partition at the top: detach pending)
    if (!ancestor)
        ereport(ERROR,
                (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                 errmsg("capture trigger \"%s\" on partition \"%s\" is not for one of its "
                        "partitioned ancestors",
                        trigger->tgname, RelationGetRelationName(rel)),
                 errhint("If this database was restored from a dump, run SELECT "
                         "pgtrickle.restore_stream_tables() as a superuser; otherwise run SELECT "
                         "pgtrickle.rebuild_cdc_triggers().")));
    return named;
}

}  // namespace

extern "C" {

PG_FUNCTION_INFO_V1(pg_trickle_capture);
Datum pg_trickle_capture(PG_FUNCTION_ARGS) {
    if (!CALLED_AS_TRIGGER(fcinfo))
        ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                        errmsg("pgtrickle.pg_trickle_capture() may only be called as a trigger")));
    auto* trigdata = reinterpret_cast<TriggerData*>(fcinfo->context);
    if (!TRIGGER_FIRED_FOR_STATEMENT(trigdata->tg_event) ||
        !TRIGGER_FIRED_AFTER(trigdata->tg_event))
        ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                        errmsg("pgtrickle.pg_trickle_capture() must fire AFTER ... FOR EACH "
                               "STATEMENT")));
    Relation source = trigdata->tg_relation;
    // PostgreSQL 15 leaves the rows a MERGE moves to another partition out of its UPDATE
    // transition tables (a plain UPDATE has them, as a delete and an insert): a MERGE that
    // updates through a partitioned table is recorded as a TRUNCATE too, so the next refresh
    // is FULL.
    const bool truncate =
        TRIGGER_FIRED_BY_TRUNCATE(trigdata->tg_event) ||
        (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) &&
         source->rd_rel->relkind == RELKIND_PARTITIONED_TABLE && pgtrickle::pg::finishing_merge());
    Tuplestorestate* old_rows = trigdata->tg_oldtable;
    Tuplestorestate* new_rows = trigdata->tg_newtable;
    if (!truncate && (old_rows == nullptr || tuplestore_tuple_count(old_rows) == 0) &&
        (new_rows == nullptr || tuplestore_tuple_count(new_rows) == 0))
        return PointerGetDatum(nullptr);  // a statement that changed no row
    // (After that test: it reads pg_inherits for a partition.)
    const Oid source_id = captured_source(source, trigdata->tg_trigger);
    if (!OidIsValid(source_id))
        return PointerGetDatum(nullptr);

    Oid nsp = get_namespace_oid(kChangeSchema, false);
    char name[NAMEDATALEN];
    snprintf(name, sizeof(name), "changes_%u", source_id);
    Oid buffer_id = get_relname_relid(name, nsp);
    Oid seq_id = get_relname_relid("change_seq", nsp);
    if (!OidIsValid(buffer_id) || !OidIsValid(seq_id))
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE),
                        errmsg("change buffer %s.%s of \"%s\" does not exist", kChangeSchema, name,
                               RelationGetRelationName(source)),
                        errhint("If this database was restored from a dump, run SELECT "
                                "pgtrickle.restore_stream_tables() as a superuser once the "
                                "restore is complete; otherwise drop and recreate the stream "
                                "tables reading it.")));

    Writer w{};
    w.buffer = table_open(buffer_id, RowExclusiveLock);
    w.slot_desc = CreateTupleDescCopy(RelationGetDescr(w.buffer));
    w.map = column_map(w.buffer, source);
    const FullTransactionId top = GetTopFullTransactionId();
    w.xid = FullTransactionIdGetDatum(top);
    // Before any row exists: a trim compares its cutoff with this floor (trim_buffers).
    pgtrickle::pg::worker::note_buffer_write(source_id, U64FromFullTransactionId(top));
    // One sequence value per statement orders a transaction's own statements (see cdc.hpp).
    w.seq = Int64GetDatum(nextval_internal(seq_id, false));
    w.cid = GetCurrentCommandId(true);
    const int64 rows = (old_rows ? tuplestore_tuple_count(old_rows) : 0) +
                       (new_rows ? tuplestore_tuple_count(new_rows) : 0);
    w.bistate = rows > kBatch ? GetBulkInsertState() : nullptr;
    w.slots = static_cast<TupleTableSlot**>(palloc(sizeof(TupleTableSlot*) * kBatch));

    if (truncate)
        add_truncate_marker(w.buffer, w.xid, w.seq);
    if (!TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) ||
        !add_pairs(&w, old_rows, new_rows, RelationGetDescr(source))) {
        add_all(&w, 'D', old_rows, RelationGetDescr(source));
        add_all(&w, 'I', new_rows, RelationGetDescr(source));
    }
    flush(&w);

    for (int i = 0; i < w.made; ++i)
        ExecDropSingleTupleTableSlot(w.slots[i]);
    if (w.bistate != nullptr)
        FreeBulkInsertState(w.bistate);
    table_close(w.buffer, NoLock);
    // At commit: tell the scheduler (change counters, latch) that this source changed.
    pgtrickle::pg::worker::note_source_change(source_id);
    return PointerGetDatum(nullptr);
}

}  // extern "C"
