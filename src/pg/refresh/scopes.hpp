// Scopes a maintenance operation (refresh, IMMEDIATE maintenance) runs in: as the stream
// table's owner, with output settings pinned, and statements in internal subtransactions.
#pragma once

#include <exception>
#include <functional>
#include <string>

#include "pg_trickle/core/error.hpp"

#include "pg_trickle/pg/guard.hpp"
#include "pg_trickle/pg/postgres.hpp"

namespace pgtrickle::pg {

// Runs the enclosing scope as `owner` with the restrictions of a maintenance operation (as
// REFRESH MATERIALIZED VIEW does): the defining query runs with the owner's rights whoever asked.
class AsOwner {
  public:
    explicit AsOwner(Oid owner) {
        GetUserIdAndSecContext(&saved_user_, &saved_context_);
        SetUserIdAndSecContext(
            owner, saved_context_ | SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
    }
    ~AsOwner() { SetUserIdAndSecContext(saved_user_, saved_context_); }
    AsOwner(const AsOwner&) = delete;
    AsOwner& operator=(const AsOwner&) = delete;

  private:
    Oid saved_user_;
    int saved_context_;
};

// The owner of relation `relid` (whom a maintenance of its stream table runs as).
inline Oid relation_owner(Oid relid) {
    return pg_call([&] {
        HeapTuple tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
        if (!HeapTupleIsValid(tuple))
            elog(ERROR, "pg_trickle: cache lookup failed for relation %u", relid);
        Oid owner = reinterpret_cast<Form_pg_class>(GETSTRUCT(tuple))->relowner;
        ReleaseSysCache(tuple);
        return owner;
    });
}

// Settings changed for a scope: the derived class sets them, in its constructor, at the GUC
// nest level this opens (GUC_ACTION_SAVE); the scope's exit restores them (an error aborts the
// transaction, which restores them too).
class GucScope {
  protected:
    GucScope() : nest_(pg_call([] { return NewGUCNestLevel(); })) {}
    ~GucScope() {
        if (std::uncaught_exceptions() == 0)
            AtEOXact_GUC(true, nest_);
    }
    GucScope(const GucScope&) = delete;
    GucScope& operator=(const GucScope&) = delete;

    // Sets `name` to `value` for the scope (plain C: call inside pg_call).
    static void set(const char* name, const char* value) {
        set_config_option(name, value, PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
    }

  private:
    int nest_;
};

// No JIT for the scope: catalog queries of DDL tracking, whose estimates (set-returning
// functions guessed at 100 or 1000 rows) would otherwise cross jit_above_cost and compile for
// far longer than they run.
class JitOff : GucScope {
  public:
    JitOff() {
        pg_call([] { set("jit", "off"); });
    }
};

// No NOTICEs to the client for the scope: the "does not exist, skipping" of the IF EXISTS drops
// pg_trickle runs to put its own objects back.
class Quiet : GucScope {
  public:
    Quiet() {
        pg_call([] { set("client_min_messages", "warning"); });
    }
};

// The search_path a stream table's query was given under (original_search_path), for the scope.
class SearchPath : GucScope {
  public:
    explicit SearchPath(const std::string& path) {
        pg_call([&] { set("search_path", path.c_str()); });
    }
};

// Output settings fixed for the duration of a refresh (restored at scope exit; an error aborts
// the transaction, which restores them too).
class PinnedSettings : GucScope {
  public:
    PinnedSettings() {
        pg_call([] {
            auto pin = [](const char* name, const char* value) {
                // (Already so: nothing to set, nothing to restore. Saves IMMEDIATE writers time.)
                const char* current = GetConfigOption(name, true, false);
                if (current == nullptr || strcmp(current, value) != 0)
                    set(name, value);
            };
            pin("DateStyle", "ISO, YMD");
            pin("IntervalStyle", "postgres");
            pin("TimeZone", "UTC");
            pin("extra_float_digits", "1");
            pin("bytea_output", "hex");
            // Delta statements are cheap but their estimates are not: JIT would compile them
            // for far longer than they run.
            pin("jit", "off");
            pin("search_path", "pg_catalog, pg_temp");
        });
    }
};

// Planner settings for a delta statement (pg_trickle.planner_aggressive): random_page_cost no
// higher than 1.1 x seq_page_cost. A delta joins a few changed rows with large tables, whose
// pages the refreshes keep in cache; priced as random disk reads, probing the tables' indexes
// once per changed row loses to scanning them whole, which can cost many times more. For a
// large delta, work_mem raised to `work_mem_mb` (0: not; never lowered): its hashes and sorts
// then stay in memory (pg_trickle.merge_work_mem_mb). Restored at scope exit (an error aborts
// the transaction, which restores them too).
class DeltaPlannerSettings : GucScope {
  public:
    DeltaPlannerSettings(bool aggressive, int work_mem_mb) {
        if (!aggressive)
            return;
        pg_call([&] {
            if (work_mem_mb > 0 && work_mem < work_mem_mb * 1024) {
                char value[32];
                snprintf(value, sizeof(value), "%dMB", work_mem_mb);
                set("work_mem", value);
            }
            // (GetConfigOption prints numbers into one static buffer: read each at once.)
            const char* seq = GetConfigOption("seq_page_cost", true, false);
            const double cap = (seq != nullptr ? strtod(seq, nullptr) : 1.0) * 1.1;
            const char* random = GetConfigOption("random_page_cost", true, false);
            if (random != nullptr && strtod(random, nullptr) > cap) {
                char value[64];
                snprintf(value, sizeof(value), "%g", cap);
                set("random_page_cost", value);
            }
        });
    }
};

// An internal subtransaction, as PL/pgSQL's exception blocks use: commit() releases it;
// otherwise the destructor rolls it back (after a caught PostgreSQL error) and restores the
// caller's memory context and resource owner.
class Subtransaction {
  public:
    Subtransaction() {
        context_ = CurrentMemoryContext;
        owner_ = CurrentResourceOwner;
        pg_call([&] {
            BeginInternalSubTransaction(nullptr);
            MemoryContextSwitchTo(context_);
        });
    }
    void commit() {
        pg_call([&] {
            ReleaseCurrentSubTransaction();
            MemoryContextSwitchTo(context_);
            CurrentResourceOwner = owner_;
        });
        done_ = true;
    }
    // Not committed: rolled back, also while an error passes through (PostgreSQL's abort of
    // the statement would only abort the innermost subtransaction and leave the session in a
    // state no command can leave). The error's data lives in the caller's memory context
    // (pg_call), which the rollback does not free.
    ~Subtransaction() {
        if (done_)
            return;
        try {
            pg_call([&] {
                RollbackAndReleaseCurrentSubTransaction();
                MemoryContextSwitchTo(context_);
                CurrentResourceOwner = owner_;
            });
        } catch (...) {
            // (Cannot happen short of a broken transaction state; the error in flight, if
            // any, still aborts the transaction.)
        }
    }
    Subtransaction(const Subtransaction&) = delete;
    Subtransaction& operator=(const Subtransaction&) = delete;

  private:
    MemoryContext context_;
    ResourceOwner owner_;
    bool done_ = false;
};

// Notes, while it lives, the trigger depth at which messages are reported (an error context
// callback runs as the error is raised, before it unwinds): an error a trigger raised that the
// enclosed statement fired (a user's trigger on a stream table) is told apart from one the
// statement's own expressions raised. Maintenance retries or recomputes after the latter only.
class TriggerDepthWatch {
  public:
    TriggerDepthWatch() : base_(depth()), at_report_(base_) {
        callback_.callback = note;
        callback_.arg = this;
        callback_.previous = error_context_stack;
        error_context_stack = &callback_;
    }
    ~TriggerDepthWatch() { error_context_stack = callback_.previous; }
    TriggerDepthWatch(const TriggerDepthWatch&) = delete;
    TriggerDepthWatch& operator=(const TriggerDepthWatch&) = delete;

    // Whether the last message (the error caught) came from inside a trigger.
    bool raised_in_trigger() const { return at_report_ > base_; }

  private:
    static int depth() {
        LOCAL_FCINFO(fcinfo, 0);
        InitFunctionCallInfoData(*fcinfo, nullptr, 0, InvalidOid, nullptr, nullptr);
        return DatumGetInt32(pg_trigger_depth(fcinfo));
    }
    static void note(void* arg) { static_cast<TriggerDepthWatch*>(arg)->at_report_ = depth(); }

    ErrorContextCallback callback_{};
    int base_;
    int at_report_;
};

// Runs `work` in a subtransaction: "" when it committed, else its error's message (a cancel or
// running out of resources is raised as it is). For maintenance over many objects, where one
// that fails must not stop the others (restore_stream_tables, rebuild_cdc_triggers).
inline std::string attempt(const std::function<void()>& work) {
    Subtransaction sub;
    try {
        work();
        sub.commit();
        return {};
    } catch (const PgException& e) {
        const int cls = ERRCODE_TO_CATEGORY(e.edata()->sqlerrcode);
        if (cls == ERRCODE_TO_CATEGORY(ERRCODE_QUERY_CANCELED) ||
            cls == ERRCODE_TO_CATEGORY(ERRCODE_INSUFFICIENT_RESOURCES))
            throw;
        return e.what();
    } catch (const core::Error& e) {
        return e.what();
    }
}

}  // namespace pgtrickle::pg
