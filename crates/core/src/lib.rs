//! switchboard-core: the pure part of the gateway.
//!
//! Parsing, checking, compiling and matching take values and return values: no I/O, no clocks,
//! no globals. The binary crate drives it; the conformance suites, fuzzers and benches hit it
//! directly.
pub mod event;
pub mod lang;
