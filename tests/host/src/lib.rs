//! Host unit tests for the pure logic of the Rust AIO implementation.

#[path = "../../../ring_index.rs"]
pub mod ring_index;

#[path = "../../../poll_refs.rs"]
pub mod poll_refs;

#[path = "../../../read_passes.rs"]
pub mod read_passes;

#[path = "../../../write_steps.rs"]
pub mod write_steps;

#[path = "../../../claim.rs"]
pub mod claim;

#[path = "../../../promise.rs"]
pub mod promise;

#[cfg(test)]
mod claim_tests;
#[cfg(test)]
mod model;
#[cfg(test)]
mod poll_refs_tests;
#[cfg(test)]
mod read_passes_tests;
#[cfg(test)]
mod ring_index_tests;
#[cfg(test)]
mod rng;
#[cfg(test)]
mod write_steps_tests;
