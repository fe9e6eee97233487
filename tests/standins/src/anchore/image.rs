//! Image references, the stand-in's stable digests, the v2 API's image records
//! (`AnchoreImage`, `ImageDetail`, `AnalysisStatusDetail`) and the analysis state machine.
//!
//! Normalisation follows Anchore, not Docker: a reference without a registry gets `docker.io`,
//! without a tag gets `latest`, but the repository is kept as typed (`nginx` stays `nginx`, as in
//! `docker.io/nginx:latest` in Anchore's own examples). The digest, which a real registry would
//! give, is the sha256 of the Docker-canonical tag (`docker.io/library/nginx:latest`), so `nginx`
//! and `docker.io/library/nginx:latest` name the same image, as they would in a registry, and the
//! digest is the same on every run.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

pub const DEFAULT_REGISTRY: &str = "docker.io";

/// A parsed, normalised image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    pub registry: String,
    pub repo: String,
    pub tag: String,
    /// A `sha256:<hex>` digest given in the reference (`repo@sha256:…`).
    pub digest: Option<String>,
}

fn is_hex64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Whether `s` is `sha256:` followed by 64 hex digits (the API's `image_digest` pattern).
pub fn is_digest(s: &str) -> bool {
    s.strip_prefix("sha256:").is_some_and(is_hex64)
}

fn valid_repo_component(c: &str) -> bool {
    !c.is_empty()
        && c.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        && c.as_bytes()[0].is_ascii_alphanumeric()
        && c.as_bytes()[c.len() - 1].is_ascii_alphanumeric()
}

fn valid_tag(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= 128
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        && t.as_bytes()[0] != b'.'
        && t.as_bytes()[0] != b'-'
}

fn valid_registry(r: &str) -> bool {
    !r.is_empty()
        && r.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
}

impl ImageRef {
    /// Parses a pull string such as `postgres`, `docker.io/library/postgres:latest`,
    /// `quay.io/org/app:1.2`, `localhost:5000/app` or `nginx@sha256:<hex>`.
    pub fn parse(input: &str) -> Result<ImageRef, String> {
        let s = input.trim();
        if s.is_empty() {
            return Err("the image reference is empty".to_string());
        }
        if s.chars().any(char::is_whitespace) {
            return Err(format!(
                "invalid image reference {input:?}: it contains whitespace"
            ));
        }
        let (name, digest) = match s.split_once('@') {
            Some((name, d)) => {
                if !is_digest(d) {
                    return Err(format!(
                        "invalid image reference {input:?}: the digest must be sha256: followed by 64 hex digits"
                    ));
                }
                (name, Some(d.to_ascii_lowercase()))
            }
            None => (s, None),
        };
        let last_slash = name.rfind('/');
        let (path, tag) = match name.rfind(':') {
            Some(colon) if last_slash.is_none_or(|sl| colon > sl) => {
                (&name[..colon], Some(&name[colon + 1..]))
            }
            _ => (name, None),
        };
        let (registry, repo) = match path.split_once('/') {
            Some((first, rest))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_string(), rest.to_string())
            }
            _ => (DEFAULT_REGISTRY.to_string(), path.to_string()),
        };
        let registry = if registry == "index.docker.io" || registry == "registry-1.docker.io" {
            DEFAULT_REGISTRY.to_string()
        } else {
            registry
        };
        if !valid_registry(&registry) {
            return Err(format!(
                "invalid image reference {input:?}: bad registry {registry:?}"
            ));
        }
        if repo.is_empty() || !repo.split('/').all(valid_repo_component) {
            return Err(format!(
                "invalid image reference {input:?}: the repository must be lowercase letters, digits and . _ - separated by /"
            ));
        }
        let tag = tag.unwrap_or("latest");
        if !valid_tag(tag) {
            return Err(format!(
                "invalid image reference {input:?}: bad tag {tag:?}"
            ));
        }
        Ok(ImageRef {
            registry,
            repo,
            tag: tag.to_string(),
            digest,
        })
    }

    /// `registry/repo:tag`, the `full_tag` Anchore stores.
    pub fn full_tag(&self) -> String {
        format!("{}/{}:{}", self.registry, self.repo, self.tag)
    }

    /// The tag as Docker resolves it: official images get `library/` on Docker Hub.
    pub fn canonical_tag(&self) -> String {
        if self.registry == DEFAULT_REGISTRY && !self.repo.contains('/') {
            format!("{}/library/{}:{}", self.registry, self.repo, self.tag)
        } else {
            self.full_tag()
        }
    }

    /// The digest given in the reference, else the stable stand-in digest of its tag.
    pub fn digest(&self) -> String {
        self.digest
            .clone()
            .unwrap_or_else(|| derive_digest(&self.canonical_tag()))
    }

    /// `registry/repo@sha256:…`, the pull string the analyzer logs.
    pub fn full_digest(&self) -> String {
        format!("{}/{}@{}", self.registry, self.repo, self.digest())
    }
}

fn sha256_hex(data: &[u8]) -> String {
    let d = Sha256::digest(data);
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// `sha256:` + hex sha256 of the normalised tag: what a registry would answer, made stable.
pub fn derive_digest(canonical_tag: &str) -> String {
    format!("sha256:{}", sha256_hex(canonical_tag.as_bytes()))
}

/// The image (config) id, 64 hex digits, derived from the digest.
pub fn derive_image_id(digest: &str) -> String {
    sha256_hex(format!("image-id:{digest}").as_bytes())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnalysisStatus {
    NotAnalyzed,
    Analyzing,
    Analyzed,
    AnalysisFailed,
}

impl AnalysisStatus {
    pub const ALL: [AnalysisStatus; 4] = [
        AnalysisStatus::NotAnalyzed,
        AnalysisStatus::Analyzing,
        AnalysisStatus::Analyzed,
        AnalysisStatus::AnalysisFailed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AnalysisStatus::NotAnalyzed => "not_analyzed",
            AnalysisStatus::Analyzing => "analyzing",
            AnalysisStatus::Analyzed => "analyzed",
            AnalysisStatus::AnalysisFailed => "analysis_failed",
        }
    }

    pub fn parse(s: &str) -> Option<AnalysisStatus> {
        AnalysisStatus::ALL.into_iter().find(|a| a.as_str() == s)
    }

    /// Whether analysis is over (successfully or not).
    pub fn is_final(self) -> bool {
        matches!(
            self,
            AnalysisStatus::Analyzed | AnalysisStatus::AnalysisFailed
        )
    }
}

/// The transitions of the documented state machine (FACTS.md §9): queued images are picked up,
/// analysis succeeds or fails, an interrupted analysis is re-queued, and a finished image can be
/// re-queued by the user.
pub fn can_transition(from: AnalysisStatus, to: AnalysisStatus) -> bool {
    use AnalysisStatus::*;
    matches!(
        (from, to),
        (NotAnalyzed, Analyzing)
            | (Analyzing, Analyzed)
            | (Analyzing, AnalysisFailed)
            | (Analyzing, NotAnalyzed)
            | (AnalysisFailed, NotAnalyzed)
            | (Analyzed, NotAnalyzed)
    )
}

/// `image_status` values the API and anchorectl know.
pub const IMAGE_STATUSES: [&str; 4] = ["active", "inactive", "disabled", "deleting"];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceReference {
    pub host_id: String,
    pub service_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnalysisStatusDetail {
    pub from_status: AnalysisStatus,
    pub to_status: AnalysisStatus,
    pub timestamp: String,
    pub source: ServiceReference,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageDetail {
    pub created_at: String,
    pub last_updated: String,
    pub full_tag: String,
    pub full_digest: String,
    pub account_name: String,
    pub image_id: String,
    pub registry: String,
    pub repo: String,
    pub dockerfile: Option<String>,
    pub image_digest: String,
    pub tag: String,
    pub tag_detected_at: String,
}

/// `image_content.metadata` after analysis (the engine's shape; anchorectl prints distro and
/// layers from it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentMetadata {
    pub arch: String,
    pub distro: String,
    pub distro_version: String,
    pub dockerfile_mode: String,
    pub image_size: u64,
    pub layer_count: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageContent {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub metadata: Option<ContentMetadata>,
}

/// `AnchoreImage` of the v2 API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnchoreImage {
    pub image_digest: String,
    pub parent_digest: String,
    pub account_name: String,
    pub image_status: String,
    pub analysis_status: AnalysisStatus,
    pub analysis_status_detail: Vec<AnalysisStatusDetail>,
    pub image_detail: Vec<ImageDetail>,
    pub image_content: ImageContent,
    pub annotations: Map<String, Value>,
    pub created_at: String,
    pub last_updated: String,
    pub record_version: String,
}

/// Filters of `GET /v2/images`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFilter {
    pub image_id: Option<String>,
    pub full_tag: Option<String>,
    /// `None` means "all"; the API default is `active`.
    pub image_status: Option<String>,
    pub analysis_status: Option<AnalysisStatus>,
}

impl ListFilter {
    pub fn matches(&self, img: &AnchoreImage) -> bool {
        if let Some(s) = &self.image_status {
            if &img.image_status != s {
                return false;
            }
        }
        if let Some(a) = self.analysis_status {
            if img.analysis_status != a {
                return false;
            }
        }
        if let Some(t) = &self.full_tag {
            if !img.image_detail.iter().any(|d| &d.full_tag == t) {
                return false;
            }
        }
        if let Some(id) = &self.image_id {
            if !img.image_detail.iter().any(|d| &d.image_id == id) {
                return false;
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_like_anchore() {
        let r = ImageRef::parse("postgres").unwrap();
        assert_eq!(r.full_tag(), "docker.io/postgres:latest");
        assert_eq!(r.canonical_tag(), "docker.io/library/postgres:latest");
        let r = ImageRef::parse("docker.io/library/postgres:latest").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repo.as_str(), r.tag.as_str()),
            ("docker.io", "library/postgres", "latest")
        );
        let r = ImageRef::parse("localhost:5000/team/app").unwrap();
        assert_eq!(r.full_tag(), "localhost:5000/team/app:latest");
        let r = ImageRef::parse("quay.io/org/app:1.2.3").unwrap();
        assert_eq!(r.full_tag(), "quay.io/org/app:1.2.3");
        let r = ImageRef::parse("index.docker.io/library/nginx:1.27").unwrap();
        assert_eq!(r.full_tag(), "docker.io/library/nginx:1.27");
        let r = ImageRef::parse("myhost.com:5000/testimages:v1.1.1").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repo.as_str(), r.tag.as_str()),
            ("myhost.com:5000", "testimages", "v1.1.1")
        );
    }

    #[test]
    fn rejects_bad_references_with_reasons() {
        for bad in [
            "",
            "  ",
            "Postgres",
            "a b",
            "repo:",
            "repo:-x",
            "x@sha256:12",
            "x@md5:abc",
            "/x",
            "x//y",
        ] {
            assert!(ImageRef::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(ImageRef::parse("Postgres")
            .unwrap_err()
            .contains("lowercase"));
    }

    #[test]
    fn digest_is_stable_and_shared_by_equivalent_references() {
        let a = ImageRef::parse("postgres").unwrap().digest();
        let b = ImageRef::parse("docker.io/library/postgres:latest")
            .unwrap()
            .digest();
        assert_eq!(a, b);
        assert!(is_digest(&a));
        // sha256("docker.io/library/postgres:latest"), computed independently with sha256sum.
        assert_eq!(
            a,
            "sha256:30339a46aad1b3f292422e91e3b8c703dc24630c6e05da1bbcd5a5e9d0f33be9"
        );
        assert_ne!(a, ImageRef::parse("postgres:13").unwrap().digest());
        let pinned = format!("nginx@sha256:{}", "AB".repeat(32));
        let r = ImageRef::parse(&pinned).unwrap();
        assert_eq!(r.digest(), format!("sha256:{}", "ab".repeat(32)));
        assert_eq!(
            r.full_digest(),
            format!("docker.io/nginx@sha256:{}", "ab".repeat(32))
        );
        assert_eq!(derive_image_id(&a).len(), 64);
    }

    #[test]
    fn state_machine_allows_only_documented_transitions() {
        use AnalysisStatus::*;
        let allowed = [
            (NotAnalyzed, Analyzing),
            (Analyzing, Analyzed),
            (Analyzing, AnalysisFailed),
            (Analyzing, NotAnalyzed),
            (AnalysisFailed, NotAnalyzed),
            (Analyzed, NotAnalyzed),
        ];
        for from in AnalysisStatus::ALL {
            for to in AnalysisStatus::ALL {
                assert_eq!(
                    can_transition(from, to),
                    allowed.contains(&(from, to)),
                    "{from:?} -> {to:?}"
                );
            }
        }
        assert_eq!(
            AnalysisStatus::parse("analysis_failed"),
            Some(AnalysisFailed)
        );
        assert_eq!(
            serde_json::to_string(&NotAnalyzed).unwrap(),
            "\"not_analyzed\""
        );
        assert!(Analyzed.is_final() && !Analyzing.is_final());
    }
}
