//! Opening the Zenoh session: explicit endpoints, no discovery traffic by default.
//!
//! Without `--config`, the session is a Zenoh *peer* with multicast and gossip scouting off, so a
//! bridge never sends a packet anywhere it was not told to. Endpoints: the `--listen` and
//! `--connect` given; with neither, it listens on `tcp/127.0.0.1:7447`, or, when another bridge
//! already listens there, connects to it (so `pub` and `sub` started with no options on one host
//! find each other, whichever starts first). Configured `connect` endpoints are retried by Zenoh
//! until they answer and again whenever the link drops, which is what makes start order and
//! restarts irrelevant.
//!
//! With `--config FILE` (Zenoh's own JSON5 configuration: TLS, access control, routers, scouting),
//! the file is the base and `--listen`/`--connect`, when given, replace its endpoint lists.

use std::path::PathBuf;

use clap::Args;
use zenoh::{Config, Session, Wait};

use crate::error::{BridgeError, Result};

/// Where the default session listens.
pub const DEFAULT_ENDPOINT: &str = "tcp/127.0.0.1:7447";

/// The network options every verb takes.
#[derive(Debug, Clone, Default, Args)]
pub struct NetArgs {
    /// Listen on this Zenoh endpoint, e.g. tcp/0.0.0.0:7447 (repeatable).
    #[arg(long, value_name = "ENDPOINT")]
    pub listen: Vec<String>,
    /// Connect to this Zenoh endpoint, e.g. tcp/10.0.0.2:7447 (repeatable).
    #[arg(long, value_name = "ENDPOINT")]
    pub connect: Vec<String>,
    /// Zenoh configuration file (JSON5): TLS, access control, routers (--listen/--connect replace its endpoints).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

impl NetArgs {
    /// The Zenoh configuration these options describe.
    pub fn config(&self) -> Result<Config> {
        let zerr = |what: &str, e: &dyn std::fmt::Display| BridgeError::Config {
            what: what.to_owned(),
            reason: e.to_string(),
        };
        let mut config = match &self.config {
            Some(file) => Config::from_file(file)
                .map_err(|e| zerr(&format!("config file {}", file.display()), &e))?,
            None => {
                let mut c = Config::default();
                for (key, value) in [
                    ("mode", "\"peer\""),
                    ("scouting/multicast/enabled", "false"),
                    ("scouting/gossip/enabled", "false"),
                    // 16 batches of 64 KiB (Zenoh's maximum, default 2) for data: a 1 MiB frame
                    // is 16 fragments, and with 2 batches the publisher and Zenoh's sending
                    // thread would hand the queue back and forth eight times per frame.
                    ("transport/link/tx/queue/size/data", "16"),
                ] {
                    c.insert_json5(key, value).map_err(|e| zerr(key, &e))?;
                }
                c
            }
        };
        let (mut listen, mut connect) = (self.listen.clone(), self.connect.clone());
        if self.config.is_none() && listen.is_empty() && connect.is_empty() {
            if default_port_taken() {
                connect.push(DEFAULT_ENDPOINT.into());
            } else {
                listen.push(DEFAULT_ENDPOINT.into());
            }
        }
        for (key, endpoints) in [
            ("listen/endpoints", &listen),
            ("connect/endpoints", &connect),
        ] {
            if endpoints.is_empty() {
                continue;
            }
            let json = format!(
                "[{}]",
                endpoints
                    .iter()
                    .map(|e| format!("{e:?}"))
                    .collect::<Vec<_>>()
                    .join(",")
            );
            config
                .insert_json5(key, &json)
                .map_err(|e| zerr(&format!("{key} {json}"), &e))?;
        }
        Ok(config)
    }

    /// Opens the session.
    pub fn open(&self) -> Result<Session> {
        let config = self.config()?;
        zenoh::open(config)
            .wait()
            .map_err(|e| BridgeError::Session {
                reason: e.to_string(),
            })
    }
}

/// Whether something already listens on the default endpoint.
fn default_port_taken() -> bool {
    std::net::TcpListener::bind("127.0.0.1:7447").is_err()
}
