//! The sans-IO core of xdhcp: no sockets, no threads, no clock reads. Time comes in as an
//! argument; packets come in as byte slices and go out as bytes written into caller buffers.

pub mod config;
pub mod engine;
pub mod failover;
pub mod journal;
pub mod lease;

#[cfg(test)]
pub(crate) mod testing;
