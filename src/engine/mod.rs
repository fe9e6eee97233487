//! The engine: everything `lab` asks of Docker and of compose. Connecting to the
//! engine, the containers of a compose project, images and their pulls, registry
//! credentials, the host's ports and system facts, and driving compose itself.

pub mod compose;
pub mod containers;
pub mod creds;
pub mod docker;
pub mod host_ports;
pub mod images;
pub mod system;
