#include <gtest/gtest.h>

#include "pg_trickle/core/dag.hpp"

using pgtrickle::core::Dag;

TEST(Dag, PathFollowsEdgesDownstream) {
    Dag d;
    d.add_edge(1, 2);
    d.add_edge(2, 3);
    auto p = d.path(1, 3);
    ASSERT_TRUE(p);
    EXPECT_EQ(*p, (std::vector<Dag::Node>{1, 2, 3}));
    EXPECT_FALSE(d.path(3, 1));
}

TEST(Dag, CycleIfReadsReportsTheCycle) {
    Dag d;
    d.add_edge(1, 2);  // 2 reads 1
    d.add_edge(2, 3);  // 3 reads 2
    // 1 reading 3 closes 1 -> 2 -> 3 -> 1.
    auto c = d.cycle_if_reads(1, {3});
    ASSERT_TRUE(c);
    EXPECT_EQ(*c, (std::vector<Dag::Node>{1, 2, 3, 1}));
    EXPECT_FALSE(d.cycle_if_reads(3, {1}));
}

TEST(Dag, SelfReferenceIsACycle) {
    Dag d;
    d.add_node(7);
    auto c = d.cycle_if_reads(7, {7});
    ASSERT_TRUE(c);
    EXPECT_EQ(*c, (std::vector<Dag::Node>{7, 7}));
}

TEST(Dag, TopologicalOrderPutsUpstreamFirst) {
    Dag d;
    d.add_edge(1, 3);
    d.add_edge(2, 3);
    d.add_edge(3, 4);
    d.add_edge(1, 4);
    auto order = d.topological_order();
    auto pos = [&](Dag::Node n) {
        return std::find(order.begin(), order.end(), n) - order.begin();
    };
    EXPECT_LT(pos(1), pos(3));
    EXPECT_LT(pos(2), pos(3));
    EXPECT_LT(pos(3), pos(4));
    EXPECT_EQ(order.size(), 4u);
}

TEST(Dag, ClearUpstreamsRemovesIncomingEdges) {
    Dag d;
    d.add_edge(1, 2);
    d.clear_upstreams(2);
    EXPECT_FALSE(d.path(1, 2));
}
