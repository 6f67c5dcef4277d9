//! Wire formats for xdhcp, as borrowed views and in-place writers.
//!
//! `no_std`, no allocation: the packet path parses a received frame where it lies and writes the
//! reply straight into a transmit frame.
#![no_std]

pub mod checksum;
pub mod dhcp;
pub mod failover;
pub mod frame;
