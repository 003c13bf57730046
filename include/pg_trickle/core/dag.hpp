// The dependency graph between stream tables: which stream table reads which.
//
// Nodes are stream-table ids; an edge upstream -> downstream means "downstream's defining query
// reads upstream". Used to refuse cycles (3F000) and, by the scheduler, to order refreshes.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <vector>

namespace pgtrickle::core {

class Dag {
  public:
    using Node = std::int64_t;

    void add_node(Node n) { downstream_[n]; }
    void add_edge(Node upstream, Node downstream);
    // Removes every edge into `n` (its defining query is being replaced).
    void clear_upstreams(Node n);

    // A path from -> ... -> to following edges downstream, if one exists (from == to: {from}).
    std::optional<std::vector<Node>> path(Node from, Node to) const;

    // If making `node` read `upstreams` would close a cycle, the cycle as a node list starting
    // and ending with `node` (node -> ... -> upstream -> node).
    std::optional<std::vector<Node>> cycle_if_reads(Node node,
                                                    const std::set<Node>& upstreams) const;

    // Nodes in an order where every upstream comes before its downstreams. Throws if cyclic.
    std::vector<Node> topological_order() const;

  private:
    std::map<Node, std::set<Node>> downstream_;
};

}  // namespace pgtrickle::core
