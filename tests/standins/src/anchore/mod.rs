//! A stand-in for Anchore Enterprise (its services, their API, logs and Prometheus metrics) and
//! for anchorectl, faithful to the facts in the course's reference material, for tests on
//! machines that cannot run the licensed product.
//!
//! # Running it
//!
//! One binary, `anchore-standin`, plays every container of the quickstart; the command line
//! chooses the role, as for the real image: `anchore-standin service start <role>` or
//! `anchore-standin <role>`. A leading `anchore-enterprise-manager` is ignored, so with the
//! binary as the image's entrypoint the quickstart's `command:` lines work unchanged.
//!
//! | compose service | role | listens on |
//! |---|---|---|
//! | `api` | `apiext` (alias `api`) | `ANCHORE_SERVICE_PORT`, default 8228 |
//! | `catalog` | `catalog` | same |
//! | `queue` | `simplequeue` (alias `queue`) | same |
//! | `policy-engine` | `policy_engine` | same |
//! | `analyzer` | `analyzer` | same |
//! | `reports`, `reports_worker`, `notifications`, `data-syncer` | same names | same |
//! | `anchore-db` | `db` | 5432 |
//! | `ui-redis` | `redis` (answers PING) | 6379 |
//! | `ui` | `ui` | 3000 |
//!
//! All listen on 0.0.0.0; `STANDIN_PORT` overrides the port of any role.
//!
//! The `db` role owns the shared state (image records, the analysis queue, the service
//! registry), as Postgres does for the real services: the others reach it at `ANCHORE_DB_HOST`
//! (`anchore-db` means `http://anchore-db:5432`; `host:port` and `http://host:port` work too).
//! Each Anchore role registers there and heartbeats every `STANDIN_HEARTBEAT_MS` (2000), which
//! is what `/v2/system` and `anchorectl system status` list.
//!
//! # Environment
//!
//! * `ANCHORE_ADMIN_PASSWORD`: HTTP Basic password of user `admin` (unset: nothing authenticates).
//! * `ANCHORE_ENABLE_METRICS`, `ANCHORE_DISABLE_METRICS_AUTH`: `/metrics` (404 when disabled,
//!   401 without credentials unless auth is disabled).
//! * `ANCHORE_ENDPOINT_HOSTNAME` (the registered `base_url` host) and `ANCHORE_HOST_ID`; both
//!   default to the host name (the container id).
//! * `ANCHORE_DB_HOST`, `ANCHORE_LOG_LEVEL` (DEBUG, INFO, WARN, ERROR), `ANCHORE_HINTS_ENABLED`.
//! * `db` role: `STANDIN_DATA_DIR` (the bench's db image sets `/var/lib/postgresql/data`, the
//!   database's volume): the store (images, queue, events) is saved there as
//!   `standin-state.json` after every change, atomically, and read at start, so it survives a
//!   restart and a copy of the volume carries it, as Postgres's data would. Unset: in memory.
//!   A heartbeat or a poll of an empty queue changes nothing saved, and writes nothing.
//! * `STANDIN_HEALTH_SETTLE` (seconds): see [`crate::settle`].
//! * Analyzer: `STANDIN_ANALYSIS_SECONDS`, `STANDIN_IMAGE_RULES` and the `standin.*` annotations
//!   (see [`analysis`]), `STANDIN_POLL_MS` (500: each poll is a request to the db role; at 200
//!   an idle analyzer and its db took a third of an idle stack's CPU), `STANDIN_SCRATCH_DIR` (`/analysis_scratch`
//!   when it exists, else the temp dir).
//!
//! # Health and shutdown
//!
//! `anchore-standin healthcheck` fits every role as an image-wide
//! `HEALTHCHECK CMD ["/anchore-standin", "healthcheck"]` (see [`healthcheck`]). SIGTERM stops
//! any role within a second; an analyzer first returns the image it was analyzing to the queue.

pub mod analysis;
pub mod analyzer;
pub mod apievents;
pub mod apiext;
pub mod auth;
pub mod client;
pub mod clock;
pub mod config;
pub mod ctl;
pub mod ctl_events;
pub mod events;
pub mod extras;
pub mod healthcheck;
pub mod image;
pub mod logging;
pub mod metrics;
pub mod owner;
pub mod process;
pub mod profile;
pub mod server;
pub mod store;
