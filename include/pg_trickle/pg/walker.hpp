// Passing a C++ function to PostgreSQL's tree walkers and mutators (expression_tree_walker,
// query_tree_walker, expression_tree_mutator), whose callback parameter types differ between
// PostgreSQL versions.
#pragma once

struct Node;

namespace pgtrickle::pg {

using Walker = bool (*)();

// `fn` (a plain function taking a Node* and a void* context) as the walkers' callback type.
template <typename F>
Walker as_walker(F fn) {
    return reinterpret_cast<Walker>(reinterpret_cast<void (*)()>(fn));
}

using Mutator = Node* (*)();

// `fn` (a plain function taking a Node* and a void* context, returning a Node*) as the
// mutators' callback type.
template <typename F>
Mutator as_mutator(F fn) {
    return reinterpret_cast<Mutator>(reinterpret_cast<void (*)()>(fn));
}

}  // namespace pgtrickle::pg
