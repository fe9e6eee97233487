//! Actions: what changes an environment. Pure edits live here beside the I/O that
//! applies them (backups, atomic writes).

pub mod compose_edit;
pub mod exec;
pub mod preflight;
pub mod pull;
