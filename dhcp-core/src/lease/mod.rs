//! Lease tables: the shared address space of atomic slots, and per-thread shards of bindings
//! (client index, expiry wheel, free lists), all sized at start-up.

pub mod binding;
pub mod index;
pub mod key;
pub mod shard;
pub mod space;
pub mod wheel;

pub use binding::{Binding, BindingFlags, BindingState, remote_id_digest};
pub use key::{ClientKey, HwAddr};
pub use shard::{Shard, TakeError};
pub use space::{AddressSpace, Migration, Slot, SlotId};
