// DDL of the IMMEDIATE maintenance triggers (see src/pg/immediate/ivm_trigger.cpp).
#include <fmt/format.h>

#include "pg_trickle/core/cdc.hpp"
#include "pg_trickle/core/names.hpp"

namespace pgtrickle::core {

namespace {

constexpr const char* kBeforeFunction = "pgtrickle.pg_trickle_ivm_before";
constexpr const char* kAfterFunction = "pgtrickle.pg_trickle_ivm_after";
constexpr std::string_view kOps[] = {"before", "ins", "upd", "del", "trunc"};

std::string ivm_trigger_name(std::string_view op, std::uint32_t relid) {
    return quote_ident(fmt::format("{}{}_{}", kImmediateTriggerPrefix, op, relid));
}

}  // namespace

std::vector<std::string> immediate_trigger_ddl(std::uint32_t relid,
                                               const std::string& qualified_name) {
    const std::string& t = qualified_name;
    // The BEFORE trigger counts statements that have started on a source and the AFTER
    // triggers count them down: maintenance runs when the outermost one has ended, with the
    // changes of every source the statement (and statements nested in it) touched.
    std::vector<std::string> out = {
        fmt::format("CREATE OR REPLACE TRIGGER {} BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE "
                    "ON {} FOR EACH STATEMENT EXECUTE FUNCTION {}()",
                    ivm_trigger_name("before", relid), t, kBeforeFunction),
        fmt::format("CREATE OR REPLACE TRIGGER {} AFTER INSERT ON {} REFERENCING NEW TABLE AS "
                    "__pgt_new FOR EACH STATEMENT EXECUTE FUNCTION {}()",
                    ivm_trigger_name("ins", relid), t, kAfterFunction),
        fmt::format("CREATE OR REPLACE TRIGGER {} AFTER UPDATE ON {} REFERENCING OLD TABLE AS "
                    "__pgt_old NEW TABLE AS __pgt_new FOR EACH STATEMENT EXECUTE FUNCTION {}()",
                    ivm_trigger_name("upd", relid), t, kAfterFunction),
        fmt::format("CREATE OR REPLACE TRIGGER {} AFTER DELETE ON {} REFERENCING OLD TABLE AS "
                    "__pgt_old FOR EACH STATEMENT EXECUTE FUNCTION {}()",
                    ivm_trigger_name("del", relid), t, kAfterFunction),
        fmt::format("CREATE OR REPLACE TRIGGER {} AFTER TRUNCATE ON {} FOR EACH STATEMENT "
                    "EXECUTE FUNCTION {}()",
                    ivm_trigger_name("trunc", relid), t, kAfterFunction),
    };
    // ENABLE ALWAYS: writes made with session_replication_role = replica keep the stream
    // tables exact too. (A subscription's apply worker fires no statement trigger: such
    // sources are refused, check_immediate_triggers_allowed.)
    for (std::string_view op : kOps)
        out.push_back(
            fmt::format("ALTER TABLE {} ENABLE ALWAYS TRIGGER {}", t, ivm_trigger_name(op, relid)));
    return out;
}

std::vector<std::string> drop_immediate_trigger_ddl(std::uint32_t relid,
                                                    const std::string& qualified_name) {
    std::vector<std::string> out;
    for (std::string_view op : kOps)
        out.push_back(fmt::format("DROP TRIGGER IF EXISTS {} ON {}", ivm_trigger_name(op, relid),
                                  qualified_name));
    return out;
}

}  // namespace pgtrickle::core
