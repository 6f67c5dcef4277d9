//! Configuration: one TOML file, parsed with serde into file structs, converted with `TryFrom`
//! into the validated [`model`] types. Errors name the file, the key and the reason.

pub mod model;

pub use model::*;
