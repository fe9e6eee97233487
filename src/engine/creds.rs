//! The Docker CLI's stored logins: `config.json` (`auths`, `credsStore`,
//! `credHelpers`) and the credential helpers it names. Secrets are read into
//! [`Secret`] and go nowhere but the daemon's auth endpoint; only usernames are shown.

use crate::model::Secret;
use bollard::auth::DockerCredentials;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// The parts of `config.json` that say where credentials live.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct DockerConfig {
    #[serde(default)]
    pub auths: BTreeMap<String, AuthEntry>,
    #[serde(default, rename = "credsStore")]
    pub creds_store: Option<String>,
    #[serde(default, rename = "credHelpers")]
    pub cred_helpers: BTreeMap<String, String>,
}

/// An `auths` entry. `Debug` hides the secret parts.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
pub struct AuthEntry {
    /// base64 of `user:password`.
    #[serde(default)]
    pub auth: Option<String>,
    #[serde(default)]
    pub identitytoken: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
}

impl std::fmt::Debug for AuthEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthEntry")
            .field("auth", &self.auth.as_ref().map(|_| "***"))
            .field("identitytoken", &self.identitytoken.as_ref().map(|_| "***"))
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .finish()
    }
}

/// A stored credential, ready to send to the daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub username: String,
    /// The password, or the identity token when `identity_token` is set.
    pub secret: Secret,
    pub identity_token: bool,
}

/// Where the CLI keeps a registry's credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Store {
    /// `credHelpers` names a helper for this registry.
    Helper(String),
    /// `credsStore`: one helper for every registry.
    Default(String),
    /// The `auths` entries of `config.json` itself.
    File,
}

static QUOTED: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    regex::Regex::new(r#"string "(?:[^"\\]|\\.)*"|"(?:[^"\\]|\\.)*""#).expect("static regex")
});

pub fn parse_config(text: &str) -> Result<DockerConfig, String> {
    if text.trim().is_empty() {
        return Ok(DockerConfig::default());
    }
    serde_json::from_str(text).map_err(|e| {
        let msg = e.to_string();
        let msg = msg
            .rsplit_once(" at line ")
            .map_or(msg.as_str(), |(m, _)| m);
        // serde quotes the offending value, which may be an `auth`: never show it.
        let msg = QUOTED.replace_all(msg, "a value");
        format!("{}:{}: {msg}", e.line(), e.column())
    })
}

/// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
pub fn config_path() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d).join("config.json"));
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(".docker").join("config.json"))
}

/// The key the CLI stores a registry under: Docker Hub's historic URL, else the host.
pub fn server_address(registry: &str) -> String {
    if normalize(registry) == "docker.io" {
        "https://index.docker.io/v1/".into()
    } else {
        registry.to_string()
    }
}

/// A config key or registry reduced to a host: scheme and path dropped, Docker Hub's
/// many names folded into `docker.io`.
pub fn normalize(key: &str) -> String {
    let k = key
        .trim()
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let host = k.split('/').next().unwrap_or(k).to_lowercase();
    match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" | "docker.io" => {
            "docker.io".into()
        }
        _ => host,
    }
}

/// The CLI's rule: a helper named for the registry, else `credsStore`, else the file.
pub fn store_for(cfg: &DockerConfig, registry: &str) -> Store {
    let want = normalize(registry);
    if let Some((_, h)) = cfg
        .cred_helpers
        .iter()
        .find(|(k, h)| normalize(k) == want && !h.is_empty())
    {
        return Store::Helper(h.clone());
    }
    match cfg.creds_store.as_deref() {
        Some(s) if !s.is_empty() => Store::Default(s.to_string()),
        _ => Store::File,
    }
}

/// The `auths` entry for a registry, decoded. `Ok(None)`: no usable entry.
pub fn from_file(cfg: &DockerConfig, registry: &str) -> Result<Option<Credential>, String> {
    let want = normalize(registry);
    let Some((key, e)) = cfg.auths.iter().find(|(k, _)| normalize(k) == want) else {
        return Ok(None);
    };
    let (mut user, mut pass) = (e.username.clone(), e.password.clone());
    if let Some(a) = e.auth.as_deref().filter(|a| !a.is_empty()) {
        crate::redact::register(a);
        let bytes = base64_decode(a)
            .ok_or_else(|| format!("the `auth` of `{key}` in `auths` is not valid base64"))?;
        let text = String::from_utf8(bytes)
            .map_err(|_| format!("the `auth` of `{key}` in `auths` is not UTF-8"))?;
        let (u, p) = text
            .split_once(':')
            .ok_or_else(|| format!("the `auth` of `{key}` in `auths` is not `user:password`"))?;
        user = Some(u.to_string());
        pass = Some(p.to_string());
        crate::redact::register_credentials(u, p);
    }
    if let Some(t) = e.identitytoken.as_deref().filter(|t| !t.is_empty()) {
        crate::redact::register(t);
        return Ok(Some(Credential {
            username: user.unwrap_or_default(),
            secret: Secret::new(t),
            identity_token: true,
        }));
    }
    match (user, pass) {
        (Some(u), Some(p)) if !u.is_empty() && !p.is_empty() => Ok(Some(Credential {
            username: u,
            secret: Secret::new(p),
            identity_token: false,
        })),
        _ => Ok(None),
    }
}

/// The answer of `docker-credential-<helper> get`.
#[derive(Deserialize)]
struct HelperAnswer {
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

/// Parses a helper's answer; `Username` `<token>` marks an identity token, as in the CLI.
pub fn parse_helper_output(stdout: &str) -> Result<Option<Credential>, String> {
    let a: HelperAnswer = serde_json::from_str(stdout.trim())
        .map_err(|e| format!("its answer is not the JSON expected ({e})"))?;
    if a.secret.is_empty() {
        return Ok(None);
    }
    Ok(Some(if a.username == "<token>" {
        Credential {
            username: String::new(),
            secret: Secret::new(a.secret),
            identity_token: true,
        }
    } else {
        Credential {
            username: a.username,
            secret: Secret::new(a.secret),
            identity_token: false,
        }
    }))
}

/// Whether a helper's failure means "nothing stored" rather than a broken helper.
fn not_found(out: &str) -> bool {
    let o = out.to_lowercase();
    o.contains("credentials not found") || o.contains("not found in native keychain")
}

/// Looks a registry's credential up the way the Docker CLI would.
pub async fn lookup(registry: &str) -> (Lookup, Option<Credential>) {
    let Some(path) = config_path() else {
        return (
            Lookup::None {
                looked: "neither DOCKER_CONFIG nor HOME is set".into(),
            },
            None,
        );
    };
    let shown = path.display().to_string();
    let text = match tokio::fs::read_to_string(&path).await {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return (
                Lookup::None {
                    looked: format!("no {shown}"),
                },
                None,
            )
        }
        Err(e) => {
            return (
                Lookup::Error {
                    message: format!("cannot read {shown}: {e}"),
                    hint: format!("make {shown} readable by your user"),
                },
                None,
            )
        }
    };
    let cfg = match parse_config(&text) {
        Ok(c) => c,
        Err(e) => {
            return (
                Lookup::Error {
                    message: format!("{shown}:{e}"),
                    hint: format!(
                        "fix {shown} (or move it away and run `docker login {registry}` again)"
                    ),
                },
                None,
            )
        }
    };
    match store_for(&cfg, registry) {
        Store::File => match from_file(&cfg, registry) {
            Ok(Some(c)) => (
                Lookup::Found {
                    username: shown_user(&c),
                    from: format!("`auths` in {shown}"),
                },
                Some(c),
            ),
            Ok(None) => (
                Lookup::None {
                    looked: format!("no entry in {shown}"),
                },
                None,
            ),
            Err(e) => (
                Lookup::Error {
                    message: format!("{shown}: {e}"),
                    hint: format!("run `docker login {registry}` again to rewrite it"),
                },
                None,
            ),
        },
        Store::Helper(h) => from_helper(registry, &h, "credHelpers").await,
        Store::Default(h) => from_helper(registry, &h, "credsStore").await,
    }
}

fn shown_user(c: &Credential) -> String {
    if c.username.is_empty() {
        "(identity token)".into()
    } else {
        c.username.clone()
    }
}

async fn from_helper(registry: &str, helper: &str, key: &str) -> (Lookup, Option<Credential>) {
    let program = format!("docker-credential-{helper}");
    let from = format!("{key} `{helper}`");
    let server = server_address(registry);
    let err = |message: String, hint: String| (Lookup::Error { message, hint }, None);
    let mut cmd = tokio::process::Command::new(&program);
    cmd.arg("get")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return err(
                format!("{from}: {program} is not on PATH, so docker cannot read the login for {registry}"),
                format!("install {program}, or remove `{key}` from the Docker config and run `docker login {registry}`"),
            )
        }
        Err(e) => return err(format!("{from}: cannot run {program}: {e}"), format!("check that {program} is executable")),
    };
    if let Some(mut stdin) = child.stdin.take() {
        use tokio::io::AsyncWriteExt;
        // A helper that exits before reading is reported by its exit status below.
        let _ = stdin.write_all(server.as_bytes()).await;
    }
    let out = match tokio::time::timeout(Duration::from_secs(10), child.wait_with_output()).await {
        Err(_) => {
            return err(
                format!("{from}: {program} gave no answer within 10s (it may be waiting for a keychain unlock)"),
                format!("run `echo {server} | {program} get` yourself to see what it waits for"),
            )
        }
        Ok(Err(e)) => return err(format!("{from}: {program} failed: {e}"), format!("run `echo {server} | {program} get` to see why")),
        Ok(Ok(o)) => o,
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        if not_found(&stdout) || not_found(&stderr) {
            return (
                Lookup::None {
                    looked: format!("nothing stored in {from}"),
                },
                None,
            );
        }
        // Helpers print their errors, never the secret, on failure.
        let why = crate::text::clip(
            stderr
                .lines()
                .chain(stdout.lines())
                .find(|l| !l.trim().is_empty())
                .unwrap_or("no message"),
            160,
        );
        return err(
            format!("{from}: {program} failed ({}): {why}", out.status),
            format!("run `echo {server} | {program} get` to see why, or `docker login {registry}` again"),
        );
    }
    match parse_helper_output(&stdout) {
        Ok(Some(c)) => (
            Lookup::Found {
                username: shown_user(&c),
                from,
            },
            Some(c),
        ),
        Ok(None) => (
            Lookup::None {
                looked: format!("nothing stored in {from}"),
            },
            None,
        ),
        Err(e) => err(
            format!("{from}: {program}: {e}"),
            format!("run `docker login {registry}` again"),
        ),
    }
}

/// Standard base64 (with or without padding); `None` on anything else.
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    fn val(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    }
    let s = s.trim().trim_end_matches('=');
    if s.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    for chunk in s.as_bytes().chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= val(c)? << (18 - 6 * i);
        }
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..chunk.len() - 1]);
    }
    Some(out)
}

/// What the Docker config holds for a registry. Secrets never enter this type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// Nothing stored; `looked` says where lab looked.
    None { looked: String },
    Found {
        username: String,
        /// `config.json auths`, `credsStore \`desktop\``, `credHelpers \`ecr-login\``.
        from: String,
    },
    /// The config or the credential helper could not be read.
    Error { message: String, hint: String },
}

/// The credential as the daemon's pull endpoint takes it.
pub fn pull_credentials(registry: &str, c: &Credential) -> DockerCredentials {
    let mut d = DockerCredentials {
        serveraddress: Some(server_address(registry)),
        ..Default::default()
    };
    if c.identity_token {
        d.identitytoken = Some(c.secret.expose().to_string());
    } else {
        d.username = Some(c.username.clone());
        d.password = Some(c.secret.expose().to_string());
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips_the_cli_encoding() {
        assert_eq!(base64_decode("Ym9iOnMzY3JldA==").unwrap(), b"bob:s3cret");
        assert_eq!(base64_decode("Ym9iOnMzY3JldA").unwrap(), b"bob:s3cret");
        assert_eq!(base64_decode("YQ==").unwrap(), b"a");
        assert_eq!(base64_decode("YWI=").unwrap(), b"ab");
        assert_eq!(base64_decode("").unwrap(), b"");
        assert!(base64_decode("Y").is_none());
        assert!(base64_decode("Ym9i*mQ=").is_none());
    }

    #[test]
    fn registries_fold_to_hosts() {
        for k in [
            "https://index.docker.io/v1/",
            "index.docker.io",
            "docker.io",
            "registry-1.docker.io",
        ] {
            assert_eq!(normalize(k), "docker.io", "{k}");
        }
        assert_eq!(normalize("https://ghcr.io"), "ghcr.io");
        assert_eq!(normalize("localhost:5000/v2/"), "localhost:5000");
        assert_eq!(server_address("docker.io"), "https://index.docker.io/v1/");
        assert_eq!(server_address("ghcr.io"), "ghcr.io");
    }

    /// One table: a config, a registry, the store it chooses and the file credential.
    #[test]
    fn config_parsing_and_store_choice() {
        struct Case {
            config: &'static str,
            registry: &'static str,
            store: Store,
            file: Result<Option<(&'static str, &'static str, bool)>, &'static str>,
        }
        let cases = [
            Case {
                config: r#"{"auths":{"https://index.docker.io/v1/":{"auth":"Ym9iOnMzY3JldA=="}}}"#,
                registry: "docker.io",
                store: Store::File,
                file: Ok(Some(("bob", "s3cret", false))),
            },
            Case {
                // A password holding a colon: split at the first.
                config: r#"{"auths":{"ghcr.io":{"auth":"YWxpY2U6YTpiOmM="}}}"#,
                registry: "ghcr.io",
                store: Store::File,
                file: Ok(Some(("alice", "a:b:c", false))),
            },
            Case {
                config: r#"{"auths":{"https://index.docker.io/v1/":{"auth":"Ym9iOg==","identitytoken":"tok-123"}}}"#,
                registry: "docker.io",
                store: Store::File,
                file: Ok(Some(("bob", "tok-123", true))),
            },
            Case {
                config: r#"{"auths":{"https://index.docker.io/v1/":{}},"credsStore":"desktop"}"#,
                registry: "docker.io",
                store: Store::Default("desktop".into()),
                file: Ok(None),
            },
            Case {
                config: r#"{"auths":{},"credsStore":"desktop","credHelpers":{"123.dkr.ecr.us-east-1.amazonaws.com":"ecr-login","index.docker.io":"pass"}}"#,
                registry: "docker.io",
                store: Store::Helper("pass".into()),
                file: Ok(None),
            },
            Case {
                config: r#"{"credHelpers":{"123.dkr.ecr.us-east-1.amazonaws.com":"ecr-login"}}"#,
                registry: "docker.io",
                store: Store::File,
                file: Ok(None),
            },
            Case {
                config: r#"{"auths":{"https://index.docker.io/v1/":{"auth":"!!!"}}}"#,
                registry: "docker.io",
                store: Store::File,
                file: Err("not valid base64"),
            },
            Case {
                config: r#"{"auths":{"https://index.docker.io/v1/":{"auth":"Ym9i"}}}"#,
                registry: "docker.io",
                store: Store::File,
                file: Err("not `user:password`"),
            },
            Case {
                config: "",
                registry: "docker.io",
                store: Store::File,
                file: Ok(None),
            },
            Case {
                config: r#"{"auths":{"quay.io":{"auth":"eDp5"}},"credsStore":""}"#,
                registry: "docker.io",
                store: Store::File,
                file: Ok(None),
            },
        ];
        for c in cases {
            let cfg = parse_config(c.config).unwrap_or_else(|e| panic!("{}: {e}", c.config));
            assert_eq!(store_for(&cfg, c.registry), c.store, "{}", c.config);
            let got = from_file(&cfg, c.registry).map(|o| {
                o.map(|cr| {
                    (
                        cr.username,
                        cr.secret.expose().to_string(),
                        cr.identity_token,
                    )
                })
            });
            match (&got, &c.file) {
                (Ok(g), Ok(w)) => assert_eq!(
                    g.as_ref().map(|(u, s, t)| (u.as_str(), s.as_str(), *t)),
                    *w,
                    "{}",
                    c.config
                ),
                (Err(g), Err(w)) => assert!(g.contains(w), "{}: {g}", c.config),
                _ => panic!("{}: got {got:?}", c.config),
            }
        }
    }

    #[test]
    fn a_broken_config_is_located() {
        let e = parse_config("{\n  \"auths\": {,\n}").unwrap_err();
        assert!(e.starts_with("2:"), "{e}");
        let e = parse_config(r#"{"credHelpers": ["x"]}"#).unwrap_err();
        assert!(e.contains("1:"), "{e}");
    }

    #[test]
    fn helper_answers() {
        let c = parse_helper_output(
            r#"{"ServerURL":"https://index.docker.io/v1/","Username":"bob","Secret":"pw"}"#,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            (c.username.as_str(), c.secret.expose(), c.identity_token),
            ("bob", "pw", false)
        );
        let t = parse_helper_output(r#"{"ServerURL":"x","Username":"<token>","Secret":"refresh"}"#)
            .unwrap()
            .unwrap();
        assert!(t.identity_token && t.username.is_empty());
        assert_eq!(
            parse_helper_output(r#"{"Username":"","Secret":""}"#).unwrap(),
            None
        );
        assert!(parse_helper_output("credentials not found").is_err());
        assert!(not_found("credentials not found in native keychain\n"));
    }

    #[test]
    fn debug_output_hides_secrets() {
        let cfg = parse_config(
            r#"{"auths":{"x.io":{"auth":"Ym9iOnMzY3JldA==","identitytoken":"T0KEN-xyz","password":"pw"}}}"#,
        )
        .unwrap();
        let shown = format!("{cfg:?}");
        assert!(
            !shown.contains("Ym9i") && !shown.contains("T0KEN") && !shown.contains("\"pw\""),
            "{shown}"
        );
        let c = from_file(&cfg, "x.io").unwrap().unwrap();
        assert!(!format!("{c:?}").contains("T0KEN"));
    }

    #[test]
    fn a_malformed_config_is_never_quoted_with_its_auth() {
        // Found by issue 14: serde's message quoted the `auth` value.
        for text in [
            r#"{"auths":{"x.io":"Ym9iOnMzY3JldA=="}}"#,
            r#"{"auths":{"x.io":{"auth":["Ym9iOnMzY3JldA=="]}}}"#,
            r#"{"auths":{"x.io":{"auth":"Ym9iOnMzY3JldA==" "#,
            r#"{"auths":{"x.io":{"Ym9iOnMzY3JldA==":1}}"#,
        ] {
            let e = parse_config(text).unwrap_err();
            assert!(!e.contains("Ym9i"), "{e}");
            assert!(e.contains(':'), "line:column kept: {e}");
        }
    }
}
