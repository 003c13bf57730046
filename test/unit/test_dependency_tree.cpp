// Unit tests of the dependency_tree() rendering (core/dependency_tree.hpp).
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "pg_trickle/core/dependency_tree.hpp"

namespace pgtrickle::core {
namespace {

TreeStreamTable st(std::string name) {
    return {std::move(name), "ACTIVE", "FULL"};
}

std::vector<std::string> lines(const std::vector<TreeRow>& rows) {
    std::vector<std::string> out;
    for (const auto& r : rows)
        out.push_back(r.tree_line);
    return out;
}

TEST(DependencyTreeTest, EmptyCatalogRendersNothing) {
    EXPECT_TRUE(render_dependency_tree({}, {}).empty());
}

TEST(DependencyTreeTest, SingleRootWithConsumersAndSources) {
    auto rows =
        render_dependency_tree({st("s.a"), st("s.b"), st("s.c")}, {{"s.a", "s.orders", false},
                                                                   {"s.b", "s.a", true},
                                                                   {"s.c", "s.b", true},
                                                                   {"s.b", "s.rates", false}});
    EXPECT_EQ(lines(rows), (std::vector<std::string>{
                               "s.a",
                               "├── s.b",
                               "│   ├── s.c",
                               "│   └── s.rates [src]",
                               "└── s.orders [src]",
                           }));
    EXPECT_EQ(rows[0].node_type, "stream_table");
    EXPECT_EQ(rows[0].depth, 0);
    EXPECT_EQ(rows[0].status, "ACTIVE");
    EXPECT_EQ(rows[2].node, "s.c");
    EXPECT_EQ(rows[2].depth, 2);
    EXPECT_EQ(rows[3].node, "s.rates");
    EXPECT_EQ(rows[3].node_type, "source_table");
    EXPECT_EQ(rows[3].depth, 2);
    EXPECT_FALSE(rows[3].status);
    EXPECT_FALSE(rows[3].refresh_mode);
}

TEST(DependencyTreeTest, SeveralRootsGetConnectors) {
    auto rows = render_dependency_tree({st("p.x"), st("p.y"), st("p.z")},
                                       {{"p.x", "p.t", false}, {"p.z", "p.x", true}});
    EXPECT_EQ(lines(rows), (std::vector<std::string>{
                               "├── p.x",
                               "│   ├── p.z",
                               "│   └── p.t [src]",
                               "└── p.y",
                           }));
}

TEST(DependencyTreeTest, DiamondShowsTheSharedConsumerUnderEachParent) {
    auto rows = render_dependency_tree({st("d.base"), st("d.left"), st("d.right"), st("d.join")},
                                       {{"d.left", "d.base", true},
                                        {"d.right", "d.base", true},
                                        {"d.join", "d.left", true},
                                        {"d.join", "d.right", true}});
    EXPECT_EQ(lines(rows), (std::vector<std::string>{
                               "d.base",
                               "├── d.left",
                               "│   └── d.join",
                               "└── d.right",
                               "    └── d.join",
                           }));
}

TEST(DependencyTreeTest, CyclesTerminate) {
    auto rows = render_dependency_tree({st("c.a"), st("c.b")},
                                       {{"c.a", "c.b", true}, {"c.b", "c.a", true}});
    EXPECT_EQ(lines(rows), (std::vector<std::string>{"c.a", "└── c.b"}));
}

TEST(DependencyTreeTest, EdgesOfUnknownConsumersAreIgnored) {
    auto rows = render_dependency_tree({st("u.a")}, {{"u.gone", "u.a", true}});
    EXPECT_EQ(lines(rows), (std::vector<std::string>{"u.a"}));
}

}  // namespace
}  // namespace pgtrickle::core
