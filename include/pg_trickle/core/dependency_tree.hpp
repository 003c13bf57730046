// The text rendering of pgtrickle.dependency_tree(): every stream table with the stream tables
// that read it indented beneath it, and its plain sources as `[src]` leaves.
//
//   public.orders_clean
//   ├── public.orders_by_day
//   │   └── public.orders_by_week
//   └── public.orders [src]
//
// Roots are the stream tables that read no other stream table, sorted by name; when there is
// more than one, the roots themselves get `├── ` / `└── ` connectors. Beneath a node come its
// consumers (sorted), then its plain sources (sorted). A stream table read by several others
// appears under each of them.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace pgtrickle::core {

struct TreeStreamTable {
    std::string name;  // schema.name
    std::string status;
    std::string refresh_mode;
};

// `consumer` reads `source`; `source_is_stream_table` tells the two kinds of edges apart.
struct TreeEdge {
    std::string consumer;
    std::string source;
    bool source_is_stream_table = false;
};

struct TreeRow {
    std::string tree_line;
    std::string node;
    std::string node_type;  // stream_table | source_table
    int depth = 0;
    std::optional<std::string> status;        // stream tables only
    std::optional<std::string> refresh_mode;  // stream tables only
};

std::vector<TreeRow> render_dependency_tree(const std::vector<TreeStreamTable>& stream_tables,
                                            const std::vector<TreeEdge>& edges);

}  // namespace pgtrickle::core
