//! Rust client for Wharf.
