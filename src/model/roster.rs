//! Grading inputs as an instructor writes them: the roster (trainees and how to
//! reach each environment) and the manual scores. Plain data; `loader::roster`
//! parses and validates them.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

/// The class: one entry per trainee, graded in this order.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Roster {
    pub trainees: Vec<Trainee>,
}

/// One trainee's environment.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trainee {
    pub name: String,
    /// The Docker engine: `unix:///var/run/docker.sock` (default), a socket path,
    /// or `tcp://host:2376`. `ssh://` is not supported by this build.
    #[serde(default)]
    pub docker: Option<String>,
    /// With `tcp://`: a folder holding `ca.pem`, `cert.pem` and `key.pem` (TLS).
    #[serde(default)]
    pub tls_dir: Option<PathBuf>,
    /// The compose project of the trainee's deployment.
    pub project: String,
    /// A copy of (or the path to) the trainee's folder: compose file and
    /// `.lab/answers.json`. Without it, file, compose, answer and command checks are
    /// reported as "not checked" (cannot check remotely). Relative to the roster.
    #[serde(default)]
    pub workdir: Option<PathBuf>,
    #[serde(default)]
    pub anchore: Option<Service>,
    #[serde(default)]
    pub prometheus: Option<Service>,
    #[serde(default)]
    pub grafana: Option<Service>,
}

/// Where a service answers, and the variable that holds its password.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    pub url: String,
    #[serde(default)]
    pub user: Option<String>,
    /// The name of an environment variable holding the password (never the password).
    #[serde(default)]
    pub password_env: Option<String>,
}

/// Trainee -> lab (as written: `1`, `01`, the slug or the id) -> check or question
/// id -> the instructor's score.
pub type ManualScores = BTreeMap<String, BTreeMap<String, BTreeMap<String, ManualScore>>>;

/// Points an instructor gives by hand, with an optional comment.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ManualScore {
    pub points: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

impl<'de> Deserialize<'de> for ManualScore {
    /// `2`, or `{points: 2, comment: "…"}`: a hand-written visitor rather than an
    /// untagged enum, whose errors would say nothing useful.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = ManualScore;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a manual score")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<ManualScore, E> {
                Ok(ManualScore {
                    points: v,
                    comment: None,
                })
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<ManualScore, E> {
                i64::try_from(v)
                    .map(|points| ManualScore {
                        points,
                        comment: None,
                    })
                    .map_err(|_| E::custom("too many points"))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<ManualScore, A::Error> {
                use serde::de::Error;
                let mut points = None;
                let mut comment = None;
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "points" => points = Some(map.next_value::<i64>()?),
                        "comment" => comment = Some(map.next_value::<String>()?),
                        other => {
                            return Err(A::Error::unknown_field(other, &["points", "comment"]))
                        }
                    }
                }
                Ok(ManualScore {
                    points: points.ok_or_else(|| A::Error::missing_field("points"))?,
                    comment,
                })
            }
        }
        d.deserialize_any(V)
    }
}
