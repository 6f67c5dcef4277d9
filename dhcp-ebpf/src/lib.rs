//! Library target only so that `dhcp-user` can name this crate as a build-dependency: cargo then
//! reruns dhcp-user's build script (which compiles the real object, `src/main.rs`) whenever this
//! crate or `dhcp-common` changes.
#![no_std]
