// DDL tracking (drops of sources and storage tables, DROP EXTENSION).
#pragma once

namespace pgtrickle::pg {
// Installs the ProcessUtility hook; called once from _PG_init.
void install_ddl_hooks();
}  // namespace pgtrickle::pg
