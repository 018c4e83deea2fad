//! The Zenalyze Encryption Service: the REST gateway (SPEC §6).
//!
//! Build an app with [`App::builder`] on a store, get its router with
//! [`App::router`], and run it with [`server::serve`] (graceful shutdown).
//! `zenalyze dev` is [`dev::run`]; `zenalyze serve` is
//! [`server::run_production`].
//!
//! Modules:
//! - [`problem`]: RFC 9457 problem documents with stable type URIs;
//! - [`request_id`]: `X-Request-Id` handling and the per-request log span;
//! - [`keys`], [`scopes`], [`auth`]: API keys, admin token, scopes;
//! - [`records`], [`admin`], [`health`], [`usage`]: the endpoints;
//! - [`limits_wiring`], [`metrics`]: rate limits, quotas, usage metering
//!   and Prometheus `GET /metrics`;
//! - [`openapi`]: OpenAPI 3.1 document and the `/docs` page;
//! - [`extract`], [`middleware`], [`routes`]: HTTP plumbing;
//! - [`config`]: limits, timeouts and the `zenalyze serve` configuration;
//! - [`state`]: [`AppState`] and the [`App`] builder (extension points for
//!   later features);
//! - [`server`], [`dev`]: running it;
//! - [`telemetry`]: structured JSON logs.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod admin;
pub mod ai;
pub mod auth;
pub mod config;
pub mod dev;
pub mod extract;
pub mod health;
pub mod keys;
pub mod kms_routes;
pub mod limits_wiring;
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod problem;
pub mod records;
pub mod request_id;
pub mod routes;
pub mod scopes;
pub mod server;
pub mod state;
pub mod telemetry;
pub mod usage;

pub use state::{App, AppBuilder, AppState, CheckStatus, HealthCheck};
