//! executor-core's integration tests, one binary: property tests of every
//! parser of outside input, and the index migration fixtures.

mod config_props;
mod migrations;
mod record_props;
mod stream_props;

#[global_allocator]
static ALLOC: test_support::fuzz::CountingAlloc = test_support::fuzz::CountingAlloc;
