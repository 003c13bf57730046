// Depth-first rendering of the stream-table dependency tree; see dependency_tree.hpp.
#include "pg_trickle/core/dependency_tree.hpp"

#include <algorithm>
#include <map>
#include <set>

namespace pgtrickle::core {

namespace {

constexpr const char* kBranch = "├── ";
constexpr const char* kLast = "└── ";
constexpr const char* kPipe = "│   ";
constexpr const char* kBlank = "    ";

class Renderer {
  public:
    Renderer(const std::vector<TreeStreamTable>& stream_tables,
             const std::vector<TreeEdge>& edges) {
        for (const auto& st : stream_tables)
            info_[st.name] = &st;
        for (const auto& e : edges) {
            if (!info_.count(e.consumer))
                continue;
            if (e.source_is_stream_table && info_.count(e.source))
                consumers_[e.source].insert(e.consumer);
            else
                sources_[e.consumer].insert(e.source);
        }
    }

    std::vector<TreeRow> render() {
        const auto roots = find_roots();
        for (std::size_t i = 0; i < roots.size(); ++i) {
            const char* connector =
                roots.size() == 1 ? "" : (i + 1 == roots.size() ? kLast : kBranch);
            visit(roots[i], 0, connector, "");
        }
        return std::move(rows_);
    }

  private:
    // Stream tables that read no stream table; then, should a cycle leave some unreachable, the
    // first of those by name, repeatedly, until every stream table is under some root.
    std::vector<std::string> find_roots() const {
        std::set<std::string> read_something;
        for (const auto& [source, readers] : consumers_)
            read_something.insert(readers.begin(), readers.end());
        std::vector<std::string> roots;
        for (const auto& [name, st] : info_)
            if (!read_something.count(name))
                roots.push_back(name);
        std::set<std::string> reached;
        auto reach = [&](const std::string& root) {
            std::vector<std::string> stack{root};
            while (!stack.empty()) {
                auto n = stack.back();
                stack.pop_back();
                if (!reached.insert(n).second)
                    continue;
                if (auto it = consumers_.find(n); it != consumers_.end())
                    stack.insert(stack.end(), it->second.begin(), it->second.end());
            }
        };
        for (const auto& r : roots)
            reach(r);
        for (const auto& [name, st] : info_) {
            if (!reached.count(name)) {
                roots.push_back(name);
                reach(name);
            }
        }
        return roots;
    }

    void visit(const std::string& node, int depth, const std::string& connector,
               const std::string& continuation) {
        const TreeStreamTable* st = info_.at(node);
        rows_.push_back({continuation + connector + node, node, "stream_table", depth, st->status,
                         st->refresh_mode});
        on_path_.insert(node);

        std::vector<std::pair<std::string, bool>> children;  // (name, is stream table)
        if (auto it = consumers_.find(node); it != consumers_.end())
            for (const auto& c : it->second)
                if (!on_path_.count(c))
                    children.emplace_back(c, true);
        if (auto it = sources_.find(node); it != sources_.end())
            for (const auto& s : it->second)
                children.emplace_back(s, false);

        // A lone root has no connector, so its children start at the margin.
        const std::string child_continuation = continuation + (connector.empty()      ? ""
                                                               : connector == kBranch ? kPipe
                                                                                      : kBlank);
        for (std::size_t i = 0; i < children.size(); ++i) {
            const std::string child_connector = i + 1 == children.size() ? kLast : kBranch;
            const auto& [name, is_st] = children[i];
            if (is_st) {
                visit(name, depth + 1, child_connector, child_continuation);
            } else {
                rows_.push_back({child_continuation + child_connector + name + " [src]", name,
                                 "source_table", depth + 1, std::nullopt, std::nullopt});
            }
        }
        on_path_.erase(node);
    }

    std::map<std::string, const TreeStreamTable*> info_;
    std::map<std::string, std::set<std::string>> consumers_;  // source ST -> STs reading it
    std::map<std::string, std::set<std::string>> sources_;    // ST -> plain sources it reads
    std::set<std::string> on_path_;
    std::vector<TreeRow> rows_;
};

}  // namespace

std::vector<TreeRow> render_dependency_tree(const std::vector<TreeStreamTable>& stream_tables,
                                            const std::vector<TreeEdge>& edges) {
    return Renderer(stream_tables, edges).render();
}

}  // namespace pgtrickle::core
