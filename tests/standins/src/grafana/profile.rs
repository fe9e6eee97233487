//! Version profiles: which Grafana release the stand-in plays, chosen by
//! `LAB_STANDIN_GRAFANA` (the bench's `lab-bench/grafana:9.5` … images set it).
//! Each profile reproduces the documented behaviour of that release that a
//! client can meet (sources in tests/fixtures/reference/PROVENANCE.md):
//!
//! | profile | version | differences |
//! |---|---|---|
//! | `9.5`  | 9.5.0  | Prometheus has no backend health check (`…/health` answers 404 "Not found"); no `PUT /api/datasources/uid/:uid` (404) |
//! | `10.4` | 10.4.0 | as 11 |
//! | `11.1` | 11.1.3 | the default (the course dashboard's `__requires`) |
//! | `11.6` | 11.6.0 | as 11.1 |
//! | `12`   | 12.0.0 | dashboards are stored in the v2 schema: the legacy `GET /api/dashboards/uid/:uid` answers 406 and names `/apis/dashboard.grafana.app/v2beta1/…` |
//! | `13`   | 13.0.0 | as 12 (dynamic dashboards on by default: every dashboard is migrated to v2) |
//!
//! Every profile locks a user out after 5 refused logins within 5 minutes
//! (Grafana's brute-force login protection, on in every release).

/// What the stand-in plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Profile {
    /// Reported by `/api/health`.
    pub version: &'static str,
    /// `GET /api/datasources/uid/:uid/health` runs a check for Prometheus.
    pub prometheus_health: bool,
    /// `PUT /api/datasources/uid/:uid` exists.
    pub put_by_uid: bool,
    /// Dashboards are kept in the v2 schema: the legacy API answers 406 for them.
    pub v2_dashboards: bool,
}

const PROFILES: &[(&str, Profile)] = &[
    (
        "9.5",
        Profile {
            version: "9.5.0",
            prometheus_health: false,
            put_by_uid: false,
            v2_dashboards: false,
        },
    ),
    (
        "10.4",
        Profile {
            version: "10.4.0",
            prometheus_health: true,
            put_by_uid: true,
            v2_dashboards: false,
        },
    ),
    (
        "11.1",
        Profile {
            version: "11.1.3",
            prometheus_health: true,
            put_by_uid: true,
            v2_dashboards: false,
        },
    ),
    (
        "11.6",
        Profile {
            version: "11.6.0",
            prometheus_health: true,
            put_by_uid: true,
            v2_dashboards: false,
        },
    ),
    (
        "12",
        Profile {
            version: "12.0.0",
            prometheus_health: true,
            put_by_uid: true,
            v2_dashboards: true,
        },
    ),
    (
        "13",
        Profile {
            version: "13.0.0",
            prometheus_health: true,
            put_by_uid: true,
            v2_dashboards: true,
        },
    ),
];

/// The profile names, for messages and the bench's image list.
pub fn names() -> Vec<&'static str> {
    PROFILES.iter().map(|(n, _)| *n).collect()
}

impl Profile {
    /// `None` or empty: 11.1. `12.x` and `12` name the same profile.
    pub fn named(name: Option<&str>) -> Result<Profile, String> {
        let raw = name
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .unwrap_or("11.1");
        let key = raw.strip_suffix(".x").unwrap_or(raw);
        PROFILES
            .iter()
            .find(|(n, _)| *n == key)
            .map(|(_, p)| *p)
            .ok_or_else(|| {
                format!(
                    "LAB_STANDIN_GRAFANA: no profile {raw:?} (known: {})",
                    names().join(", ")
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_are_named_by_release() {
        assert_eq!(Profile::named(None).unwrap().version, "11.1.3");
        assert_eq!(Profile::named(Some("")).unwrap().version, "11.1.3");
        let old = Profile::named(Some("9.5")).unwrap();
        assert!(!old.prometheus_health && !old.put_by_uid && !old.v2_dashboards);
        assert!(Profile::named(Some("12.x")).unwrap().v2_dashboards);
        assert!(Profile::named(Some("13")).unwrap().v2_dashboards);
        assert!(Profile::named(Some("8.0"))
            .unwrap_err()
            .contains("known: 9.5, 10.4, 11.1, 11.6, 12, 13"));
    }
}
