//! An image reference the way Docker resolves it: `postgres:13`,
//! `docker.io/postgres:13`, `docker.io/library/postgres:13` and
//! `index.docker.io/library/postgres:13` are one image. The one place image names
//! are normalised: image maps, Anchore tags, analyzer logs, support bundles and pulls
//! all compare through it.

use std::fmt;

/// Docker Hub's canonical registry name.
pub const DOCKER_HUB: &str = "docker.io";

/// `[registry/]repository[:tag][@digest]`, with every part Docker fills in explicit.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ImageRef {
    /// `docker.io` for Docker Hub (also when written `index.docker.io`), else the
    /// registry host with its port (`ghcr.io`, `localhost:5000`).
    pub registry: String,
    /// The path inside the registry; Docker Hub's official images get `library/`.
    pub repository: String,
    /// The tag; `latest` when neither a tag nor a digest is given.
    pub tag: Option<String>,
    /// `sha256:…` when pinned.
    pub digest: Option<String>,
}

impl ImageRef {
    /// Reads a reference as Docker does. The first path component is a registry when
    /// it has a `.` or a `:` (a port) or is `localhost`; otherwise the image is on
    /// Docker Hub.
    pub fn parse(image: &str) -> ImageRef {
        let image = image.trim();
        let (name, digest) = match image.split_once('@') {
            Some((n, d)) => (n, Some(d.to_string())),
            None => (image, None),
        };
        // The tag follows the last `:` after the last `/` (a registry may have a port).
        let slash = name.rfind('/').map(|i| i + 1).unwrap_or(0);
        let (name, tag) = match name[slash..].rfind(':') {
            Some(i) => (&name[..slash + i], Some(name[slash + i + 1..].to_string())),
            None => (name, None),
        };
        let (registry, path) = match name.split_once('/') {
            Some((first, rest))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first, rest)
            }
            _ => (DOCKER_HUB, name),
        };
        let registry = match registry {
            "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB,
            r => r,
        };
        let repository = if registry == DOCKER_HUB && !path.contains('/') {
            format!("library/{path}")
        } else {
            path.to_string()
        };
        let tag = match (tag, &digest) {
            (None, None) => Some("latest".to_string()),
            (t, _) => t,
        };
        ImageRef {
            registry: registry.to_string(),
            repository,
            tag,
            digest,
        }
    }

    /// `registry/repository`, without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// What a pull asks for after the name: the digest when pinned, else the tag.
    pub fn tag_or_digest(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or("latest")
    }
}

/// The full reference: `docker.io/library/postgres:13`, `ghcr.io/x/y@sha256:…`.
impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// `image` in its full form, for comparing names.
pub fn normalise(image: &str) -> String {
    ImageRef::parse(image).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_names_of_one_docker_hub_image_are_one() {
        for name in [
            "postgres:13",
            "docker.io/postgres:13",
            "docker.io/library/postgres:13",
            "index.docker.io/library/postgres:13",
            "index.docker.io/postgres:13",
            "library/postgres:13",
            " postgres:13 ",
        ] {
            assert_eq!(normalise(name), "docker.io/library/postgres:13", "{name}");
        }
        assert_eq!(normalise("postgres"), "docker.io/library/postgres:latest");
        assert_ne!(normalise("postgres:13"), normalise("postgres:14"));
    }

    #[test]
    fn registries_ports_tags_and_digests_are_kept() {
        for (given, want) in [
            ("grafana/grafana", "docker.io/grafana/grafana:latest"),
            ("grafana/grafana:11.1.3", "docker.io/grafana/grafana:11.1.3"),
            (
                "127.0.0.1:5000/prom/prometheus",
                "127.0.0.1:5000/prom/prometheus:latest",
            ),
            ("localhost:5000/busybox:1", "localhost:5000/busybox:1"),
            ("localhost/busybox", "localhost/busybox:latest"),
            ("ghcr.io/x/y@sha256:abc", "ghcr.io/x/y@sha256:abc"),
            (
                "postgres@sha256:abc",
                "docker.io/library/postgres@sha256:abc",
            ),
            ("ghcr.io/x/y:1.0@sha256:abc", "ghcr.io/x/y:1.0@sha256:abc"),
            ("quay.io/postgres", "quay.io/postgres:latest"),
        ] {
            assert_eq!(normalise(given), want, "{given}");
        }
        let r = ImageRef::parse("localhost:5000/lab/busybox:1");
        assert_eq!(r.registry, "localhost:5000");
        assert_eq!(r.repository, "lab/busybox");
        assert_eq!(r.tag.as_deref(), Some("1"));
        assert_eq!(r.tag_or_digest(), "1");
        assert_eq!(r.name(), "localhost:5000/lab/busybox");
        let d = ImageRef::parse("ghcr.io/x/y:1.0@sha256:abc");
        assert_eq!(d.tag_or_digest(), "sha256:abc");
    }
}
