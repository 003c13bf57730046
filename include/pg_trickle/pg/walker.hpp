// Passing a C++ function to PostgreSQL's tree walkers (expression_tree_walker,
// query_tree_walker), whose callback parameter type differs between PostgreSQL versions.
#pragma once

namespace pgtrickle::pg {

using Walker = bool (*)();

// `fn` (a plain function taking a Node* and a void* context) as the walkers' callback type.
template <typename F>
Walker as_walker(F fn) {
    return reinterpret_cast<Walker>(reinterpret_cast<void (*)()>(fn));
}

}  // namespace pgtrickle::pg
