//! Criterion benchmarks of the request path: token validation, a Cedar decision, the whole stack, and audit appends.

fn main() {}
