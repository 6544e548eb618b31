//! Host unit tests for the pure logic of the Rust AIO implementation.

#[path = "../../../ring_index.rs"]
pub mod ring_index;

#[cfg(test)]
mod ring_index_tests;
