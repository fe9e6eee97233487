//! Who holds a TCP port: a bind test, the kernel's socket tables (/proc/net/tcp and
//! tcp6) for the listening socket's inode, the processes whose descriptors point
//! at it, and the Docker containers that publish it.

use crate::model::compose::PROJECT_LABEL;
use bollard::query_parameters::ListContainersOptions;
use bollard::Docker;
use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

/// A listening socket from /proc/net/tcp or tcp6.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listen {
    pub addr: IpAddr,
    pub port: u16,
    pub inode: u64,
}

/// The listening sockets of a /proc/net/tcp or tcp6 table; malformed lines are skipped.
pub fn parse_proc_net_tcp(text: &str) -> Vec<Listen> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 10 || f[3] != "0A" {
                return None;
            }
            let (addr, port) = f[1].split_once(':')?;
            Some(Listen {
                addr: parse_addr(addr)?,
                port: u16::from_str_radix(port, 16).ok()?,
                inode: f[9].parse().ok()?,
            })
        })
        .collect()
}

/// The kernel prints each 32-bit word of the address as it sits in memory (network
/// order) read as a native integer, in hex.
fn parse_addr(hex: &str) -> Option<IpAddr> {
    let word = |s: &str| u32::from_str_radix(s, 16).ok().map(u32::to_ne_bytes);
    match hex.len() {
        8 => Some(IpAddr::V4(Ipv4Addr::from(word(hex)?))),
        32 => {
            let mut bytes = [0u8; 16];
            for i in 0..4 {
                bytes[i * 4..i * 4 + 4].copy_from_slice(&word(hex.get(i * 8..i * 8 + 8)?)?);
            }
            Some(IpAddr::V6(Ipv6Addr::from(bytes)))
        }
        _ => None,
    }
}

/// Tries to bind 0.0.0.0:port, as a published container port would.
pub fn try_bind(port: u16) -> Bind {
    match std::net::TcpListener::bind((Ipv4Addr::UNSPECIFIED, port)) {
        Ok(_) => Bind::Free,
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => Bind::InUse,
        Err(e) => Bind::Error(e.to_string()),
    }
}

/// The inodes of the sockets listening on `port`, from both tables.
pub fn listening_inodes(port: u16) -> BTreeSet<u64> {
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .flat_map(|t| parse_proc_net_tcp(&t))
        .filter(|l| l.port == port && l.inode != 0)
        .map(|l| l.inode)
        .collect()
}

/// The processes holding any of `inodes`, and a note when some processes could not
/// be looked into (other users' processes, without root).
pub fn holders(inodes: &BTreeSet<u64>) -> (Vec<Holder>, Option<String>) {
    if inodes.is_empty() {
        return (
            vec![],
            Some("no listening socket for it in /proc/net/tcp: it may live in another network namespace".into()),
        );
    }
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return (vec![], Some("/proc is not readable".into()));
    };
    let mut found = Vec::new();
    let mut hidden = 0usize;
    for entry in procs.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            hidden += 1;
            continue;
        };
        let holds = fds.flatten().any(|fd| {
            std::fs::read_link(fd.path())
                .ok()
                .and_then(|l| socket_inode(&l.to_string_lossy()))
                .is_some_and(|i| inodes.contains(&i))
        });
        if holds {
            let comm = std::fs::read_to_string(entry.path().join("comm"))
                .map(|c| c.trim().to_string())
                .unwrap_or_else(|_| "?".into());
            found.push(Holder { pid, comm });
        }
    }
    found.sort_by_key(|h| h.pid);
    let note = (found.is_empty() && hidden > 0).then(|| {
        format!(
            "{} could not be looked into; run as root to name the holder",
            crate::text::count(hidden, "process")
        )
    });
    (found, note)
}

/// `socket:[12345]` -> 12345.
pub fn socket_inode(link: &str) -> Option<u64> {
    link.strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// Every running container's published host ports, with its name and compose project.
pub async fn publishers(
    docker: &Docker,
    limit: Duration,
) -> Result<Vec<(u16, Publisher)>, super::EngineError> {
    let list = super::ask(
        || "list the running containers".into(),
        limit,
        docker.list_containers(Some(ListContainersOptions {
            all: false,
            ..Default::default()
        })),
    )
    .await?;
    let mut out = Vec::new();
    for c in list {
        let name = c
            .names
            .as_ref()
            .and_then(|n| n.first())
            .map(|n| n.trim_start_matches('/').to_string())
            .or_else(|| c.id.as_ref().map(|i| i.chars().take(12).collect()))
            .unwrap_or_default();
        let project = c
            .labels
            .as_ref()
            .and_then(|l| l.get(PROJECT_LABEL))
            .cloned();
        let ports: BTreeSet<u16> = c
            .ports
            .iter()
            .flatten()
            .filter_map(|p| p.public_port)
            .collect();
        for p in ports {
            out.push((
                p,
                Publisher {
                    name: name.clone(),
                    project: project.clone(),
                },
            ));
        }
    }
    Ok(out)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bind {
    Free,
    InUse,
    /// Binding failed for another reason (the message).
    Error(String),
}

/// A process listening on the port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub pid: u32,
    pub comm: String,
}

/// A running container publishing the port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publisher {
    pub name: String,
    /// Its compose project, if compose made it.
    pub project: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:2382 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 40112 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 40113 1 0000000000000000 100 0 0 10 0
   2: 0100007F:1F90 0100007F:D6A4 01 00000000:00000000 00:00000000 00000000  1000        0 40999 1 0000000000000000 20 4 30 10 -1
   3: garbage
";
    const TCP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:0BB9 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 51234 1 0000000000000000 100 0 0 10 0
   1: 00000000000000000000000001000000:0BB8 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 51235 1 0000000000000000 100 0 0 10 0
";

    #[test]
    fn listening_sockets_are_read_from_both_tables() {
        assert_eq!(
            parse_proc_net_tcp(TCP),
            vec![
                Listen {
                    addr: "0.0.0.0".parse().unwrap(),
                    port: 9090,
                    inode: 40112
                },
                Listen {
                    addr: "127.0.0.1".parse().unwrap(),
                    port: 8080,
                    inode: 40113
                },
            ]
        );
        assert_eq!(
            parse_proc_net_tcp(TCP6),
            vec![
                Listen {
                    addr: "::".parse().unwrap(),
                    port: 3001,
                    inode: 51234
                },
                Listen {
                    addr: "::1".parse().unwrap(),
                    port: 3000,
                    inode: 51235
                },
            ]
        );
        assert!(parse_proc_net_tcp("").is_empty());
    }

    #[test]
    fn socket_links_give_inodes() {
        assert_eq!(socket_inode("socket:[40112]"), Some(40112));
        assert_eq!(socket_inode("pipe:[40112]"), None);
        assert_eq!(socket_inode("/dev/null"), None);
        assert_eq!(socket_inode("socket:[x]"), None);
    }

    #[test]
    fn a_port_this_process_listens_on_is_found_with_its_holder() {
        let l = std::net::TcpListener::bind(("0.0.0.0", 0)).unwrap();
        let port = l.local_addr().unwrap().port();
        assert_eq!(try_bind(port), Bind::InUse);
        let inodes = listening_inodes(port);
        assert!(!inodes.is_empty(), "port {port} not in /proc/net/tcp");
        let (found, _) = holders(&inodes);
        let me = std::process::id();
        assert!(found.iter().any(|h| h.pid == me), "{found:?}");
        // Not asserted: that the port is free once dropped. Other tests bind ephemeral
        // ports at the same time and may take it in between.
        drop(l);
    }
}
