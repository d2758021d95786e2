//! `shmim-bridge`: streams across machines (Zenoh) and milk's TCP transport. Also run as
//! `shmim bridge …` when both binaries are installed.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use shmim_bridge::{bench, ls, milk, publish, sub};

/// Mirror ImageStreamIO streams between hosts over Zenoh; talk milk's TCP stream protocol.
#[derive(Debug, Parser)]
#[command(name = "shmim-bridge", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    verb: Verb,
}

#[derive(Debug, Subcommand)]
enum Verb {
    /// Publish local streams at PREFIX/NAME.
    Pub(publish::PubArgs),
    /// Mirror the streams published under a key expression into local streams.
    Sub(sub::SubArgs),
    /// List the streams published on the network.
    Ls(ls::LsArgs),
    /// Receive a stream from milk's TCP transmitter (imnetwtransmit).
    MilkRecv(milk::RecvArgs),
    /// Send a stream to milk's TCP receiver (imnetwreceive).
    MilkSend(milk::SendArgs),
    /// Throughput and latency of the bridge against a plain TCP pipeline (benchmark, not a test).
    Bench(bench::BenchArgs),
    /// The plain-TCP baseline's sending process (used by `bench`).
    #[command(name = "__tcp-send", hide = true)]
    TcpSend(bench::TcpSendArgs),
    /// The plain-TCP baseline's receiving process (used by `bench`).
    #[command(name = "__tcp-recv", hide = true)]
    TcpRecv(bench::TcpRecvArgs),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(2);
        }
    };
    let result = match &cli.verb {
        Verb::Pub(a) => publish::run(a),
        Verb::Sub(a) => sub::run(a),
        Verb::Ls(a) => ls::run(a),
        Verb::MilkRecv(a) => milk::recv::run(a),
        Verb::MilkSend(a) => milk::send::run(a),
        Verb::Bench(a) => bench::run(a),
        Verb::TcpSend(a) => bench::tcp_send(a),
        Verb::TcpRecv(a) => bench::tcp_recv(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            shmim_bridge::log::log(format_args!("{e}"));
            ExitCode::FAILURE
        }
    }
}
