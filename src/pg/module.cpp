// Module entry: PG_MODULE_MAGIC and _PG_init.
#include "pg_trickle/pg/ddl.hpp"
#include "pg_trickle/pg/guard.hpp"
#include "pg_trickle/pg/guc.hpp"
#include "pg_trickle/pg/immediate.hpp"
#include "pg_trickle/pg/postgres.hpp"
#include "pg_trickle/pg/statement_depth.hpp"
#include "pg_trickle/pg/storage.hpp"
#include "pg_trickle/pg/worker.hpp"

extern "C" {
PG_MODULE_MAGIC;

static void pgt_xact_callback(XactEvent event, void*) {
    if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
        pgtrickle::pg::reset_internal_writes();
    pgtrickle::pg::immediate_xact_event(event);
}

static void pgt_subxact_callback(SubXactEvent event, SubTransactionId, SubTransactionId, void*) {
    pgtrickle::pg::immediate_subxact_event(event);
}

PGDLLEXPORT void _PG_init(void);
void _PG_init(void) {
    pgtrickle::pg::guc::define_all();
    RegisterXactCallback(pgt_xact_callback, nullptr);
    RegisterSubXactCallback(pgt_subxact_callback, nullptr);
    pgtrickle::pg::immediate_register_callbacks();
    pgtrickle::pg::install_ddl_hooks();
    pgtrickle::pg::install_executor_hooks();  // (after: its utility hook wraps the DDL hook)
    if (process_shared_preload_libraries_in_progress) {
        pgtrickle::pg::worker::initialize();
    } else {
        ereport(WARNING,
                (errmsg("pg_trickle is not in shared_preload_libraries; scheduling is off"),
                 errdetail("Stream tables can be created and refreshed manually, but no "
                           "background worker refreshes them."),
                 errhint("Add pg_trickle to shared_preload_libraries in postgresql.conf and "
                         "restart the server.")));
    }
}
}
