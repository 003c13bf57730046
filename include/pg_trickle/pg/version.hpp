// The library version reported by pgtrickle.version(); matches pg_trickle.control.
#pragma once

namespace pgtrickle::pg {
inline constexpr const char* kVersion = "0.1.0";
}
