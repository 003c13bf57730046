// FULL refresh.
//
// DELETE + INSERT rather than TRUNCATE: TRUNCATE is not MVCC-safe (a REPEATABLE READ reader
// whose snapshot predates the refresh would see an empty table) and it would block every reader
// for the whole refresh. Row ids are row numbers: FULL refresh rewrites every row, so ids only
// need to be unique, and row_number() is unique by construction and costs no hashing.
#include "pg_trickle/pg/refresh.hpp"

#include <chrono>

#include "pg_trickle/core/names.hpp"
#include "pg_trickle/pg/guard.hpp"
#include "pg_trickle/pg/storage.hpp"

namespace pgtrickle::pg {

namespace {

// Advisory lock namespace: the two-key form keeps our keys (class 'pgtr', pgt_id) apart from the
// single-bigint advisory locks applications use.
constexpr const char* kLockClass = "1885828210";  // 0x70677472 = 'pgtr'

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

Oid relation_owner(Spi& spi, Oid relid) {
    Value owner = spi.execute("SELECT relowner FROM pg_catalog.pg_class WHERE oid = $1::oid",
                              {std::to_string(relid)})
                      .scalar();
    return static_cast<Oid>(std::stoul(*owner));
}

}  // namespace

bool try_lock_for_refresh(Spi& spi, std::int64_t pgt_id) {
    const std::string id = std::to_string(pgt_id);
    Value got = spi.execute("SELECT pg_catalog.pg_try_advisory_xact_lock($1::integer, $2::integer)",
                            {kLockClass, id})
                    .scalar();
    if (!got || *got != "t")
        return false;
    AsCatalogOwner owner;
    auto row = spi.execute(
        "SELECT 1 FROM pgtrickle.pgt_stream_tables WHERE pgt_id = $1::bigint"
        " FOR UPDATE SKIP LOCKED",
        {id});
    return !row.empty();
}

RefreshResult refresh(Spi& spi, const StreamTable& st, std::string_view initiated_by) {
    return full_refresh(spi, st, initiated_by);
}

RefreshResult full_refresh(Spi& spi, const StreamTable& st, std::string_view initiated_by) {
    const auto start = std::chrono::steady_clock::now();
    RefreshResult result;
    const std::string table = st.qualified_name();
    {
        AsOwner as_owner(relation_owner(spi, st.relid));
        InternalWrite allow_write;
        result.rows_deleted = static_cast<std::int64_t>(spi.run("DELETE FROM " + table));
        result.rows_inserted =
            static_cast<std::int64_t>(spi.run("INSERT INTO " + table +
                                              " SELECT pg_catalog.row_number() OVER (), __pgt_q.*"
                                              " FROM (\n" +
                                              st.defining_query + "\n) AS __pgt_q"));
    }
    result.duration_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    catalog::record_refresh_success(spi, st.pgt_id, "FULL", initiated_by, result.duration_ms,
                                    result.rows_inserted, result.rows_deleted);
    return result;
}

}  // namespace pgtrickle::pg
