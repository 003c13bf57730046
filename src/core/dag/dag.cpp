// Dependency graph: reachability for cycle refusal, Kahn's algorithm for refresh order.
#include "pg_trickle/core/dag.hpp"

#include <deque>
#include <stdexcept>

namespace pgtrickle::core {

void Dag::add_edge(Node upstream, Node downstream) {
    downstream_[upstream].insert(downstream);
    downstream_[downstream];
}

void Dag::clear_upstreams(Node n) {
    for (auto& [node, outs] : downstream_)
        outs.erase(n);
}

std::optional<std::vector<Dag::Node>> Dag::path(Node from, Node to) const {
    // Breadth-first search, remembering each node's predecessor to rebuild the path.
    std::map<Node, Node> parent;
    std::deque<Node> queue{from};
    parent[from] = from;
    while (!queue.empty()) {
        Node n = queue.front();
        queue.pop_front();
        if (n == to) {
            std::vector<Node> out{to};
            while (out.back() != from)
                out.push_back(parent[out.back()]);
            return std::vector<Node>(out.rbegin(), out.rend());
        }
        auto it = downstream_.find(n);
        if (it == downstream_.end())
            continue;
        for (Node next : it->second) {
            if (parent.emplace(next, n).second)
                queue.push_back(next);
        }
    }
    return std::nullopt;
}

std::optional<std::vector<Dag::Node>> Dag::cycle_if_reads(Node node,
                                                          const std::set<Node>& upstreams) const {
    for (Node up : upstreams) {
        if (auto p = path(node, up)) {
            p->push_back(node);
            return p;
        }
    }
    return std::nullopt;
}

std::vector<Dag::Node> Dag::topological_order() const {
    std::map<Node, int> indegree;
    for (const auto& [n, outs] : downstream_) {
        indegree.emplace(n, 0);
        for (Node d : outs)
            ++indegree[d];
    }
    std::deque<Node> ready;
    for (const auto& [n, deg] : indegree)
        if (deg == 0)
            ready.push_back(n);
    std::vector<Node> order;
    while (!ready.empty()) {
        Node n = ready.front();
        ready.pop_front();
        order.push_back(n);
        auto it = downstream_.find(n);
        if (it == downstream_.end())
            continue;
        for (Node d : it->second)
            if (--indegree[d] == 0)
                ready.push_back(d);
    }
    if (order.size() != indegree.size())
        throw std::logic_error("dependency graph has a cycle");
    return order;
}

}  // namespace pgtrickle::core
