//! `shmim-bridge ls [KEYEXPR]` (and `shmim ls --remote`): the streams published on the network.
//!
//! Asks every queryable matching the key expression for its description, and the liveliness
//! tokens for publishers whose stream does not exist yet. Waits for the session to reach a peer
//! first (up to `--timeout`), so a listing right after start is not empty by accident.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Args;
use zenoh::Wait;

use crate::error::{BridgeError, Result};
use crate::log::printable;
use crate::session::NetArgs;
use crate::wire::{self, Message};

/// `ls`'s options.
#[derive(Debug, Clone, Args)]
pub struct LsArgs {
    /// Key expression to list.
    #[arg(default_value = "shmim/**")]
    pub keyexpr: String,
    /// Seconds to wait for peers and answers.
    #[arg(long, default_value_t = 2.0, value_name = "S")]
    pub timeout: f64,
    /// Print a JSON array (one object per stream).
    #[arg(long)]
    pub json: bool,
    /// Network options (--listen, --connect, --config).
    #[command(flatten)]
    pub net: NetArgs,
}

/// One published stream.
#[derive(Debug, Clone)]
struct Row {
    key: String,
    name: String,
    shape: String,
    datatype: String,
    keywords: usize,
    semaphores: u16,
}

/// Runs `ls`.
pub fn run(a: &LsArgs) -> Result<ExitCode> {
    if !(a.timeout.is_finite() && a.timeout > 0.0) {
        return Err(BridgeError::Usage(format!(
            "--timeout {}: give a positive number of seconds",
            a.timeout
        )));
    }
    let keyexpr = zenoh::key_expr::KeyExpr::try_from(a.keyexpr.clone())
        .map_err(|e| BridgeError::Usage(format!("{:?} is not a key expression: {e}", a.keyexpr)))?;
    let timeout = Duration::from_secs_f64(a.timeout);
    let session = a.net.open()?;
    let start = Instant::now();
    while session.info().peers_zid().wait().next().is_none() && start.elapsed() < timeout {
        std::thread::sleep(Duration::from_millis(20));
    }
    let left = timeout
        .saturating_sub(start.elapsed())
        .max(Duration::from_millis(200));
    let mut rows = Vec::new();
    let replies = session
        .get(keyexpr.clone())
        .timeout(left)
        .wait()
        .map_err(|e| BridgeError::zenoh(format!("query {keyexpr}"), e))?;
    while let Ok(reply) = replies.recv() {
        let Ok(sample) = reply.result() else { continue };
        let key = sample.key_expr().as_str().to_owned();
        if let Ok(Message::Meta(m)) = wire::decode(&sample.payload().to_bytes()) {
            rows.push(Row {
                key,
                name: m.name,
                shape: m
                    .layout
                    .shape
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join("x"),
                datatype: m.layout.datatype.name().to_owned(),
                keywords: m.keywords.len(),
                semaphores: m.layout.semaphores,
            });
        }
    }
    let tokens = session
        .liveliness()
        .get(keyexpr.clone())
        .timeout(Duration::from_millis(500))
        .wait()
        .map_err(|e| BridgeError::zenoh(format!("liveliness query {keyexpr}"), e))?;
    while let Ok(reply) = tokens.recv() {
        let Ok(sample) = reply.result() else { continue };
        let key = sample.key_expr().as_str().to_owned();
        if !rows.iter().any(|r| r.key == key) {
            rows.push(Row {
                name: crate::keys::name_of_key(&key).unwrap_or_default(),
                key,
                shape: "(waiting for the stream)".into(),
                datatype: "-".into(),
                keywords: 0,
                semaphores: 0,
            });
        }
    }
    rows.sort_by(|a, b| a.key.cmp(&b.key));
    print(&rows, a.json);
    Ok(ExitCode::SUCCESS)
}

fn print(rows: &[Row], json: bool) {
    if json {
        println!("{}", to_json(rows));
        return;
    }
    if rows.is_empty() {
        println!("no streams published");
        return;
    }
    let rows: Vec<Row> = rows
        .iter()
        .map(|r| Row {
            key: printable(&r.key),
            name: printable(&r.name),
            ..r.clone()
        })
        .collect();
    let w = rows.iter().map(|r| r.key.len()).max().unwrap_or(3).max(3);
    println!(
        "{:<w$}  {:<20} {:<14} {:<8} {:>3} {:>4}",
        "KEY", "NAME", "SHAPE", "TYPE", "KW", "SEMS"
    );
    for r in &rows {
        println!(
            "{:<w$}  {:<20} {:<14} {:<8} {:>3} {:>4}",
            r.key, r.name, r.shape, r.datatype, r.keywords, r.semaphores
        );
    }
    println!("{} streams published", rows.len());
}

/// The rows as a JSON array (one object per stream), escaped by a JSON library: keys come from
/// the network and may hold any character.
fn to_json(rows: &[Row]) -> String {
    let items: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            serde_json::json!({
                "key": r.key,
                "name": r.name,
                "shape": r.shape,
                "datatype": r.datatype,
                "keywords": r.keywords,
                "semaphores": r.semaphores,
            })
        })
        .collect();
    serde_json::Value::Array(items).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_output_is_json_whatever_the_keys_hold() {
        let rows = vec![Row {
            key: "lab/e\u{301}\"\\\n\u{1b}[2J".into(),
            name: "e\u{301}".into(),
            shape: "4x2".into(),
            datatype: "FLOAT".into(),
            keywords: 1,
            semaphores: 10,
        }];
        let v: serde_json::Value = serde_json::from_str(&to_json(&rows)).unwrap();
        assert_eq!(v[0]["key"], rows[0].key.as_str());
        assert_eq!(v[0]["name"], "e\u{301}");
        assert_eq!(v[0]["semaphores"], 10);
    }
}
