//! placeholder
use crate::error::Result;
use clap::Args;
use std::process::ExitCode;
/// a
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {}
/// a
#[derive(Debug, Clone, Args)]
pub struct TcpSendArgs {}
/// a
#[derive(Debug, Clone, Args)]
pub struct TcpRecvArgs {}
/// a
pub fn run(_a: &BenchArgs) -> Result<ExitCode> {
    Ok(ExitCode::SUCCESS)
}
/// a
pub fn tcp_send(_a: &TcpSendArgs) -> Result<ExitCode> {
    Ok(ExitCode::SUCCESS)
}
/// a
pub fn tcp_recv(_a: &TcpRecvArgs) -> Result<ExitCode> {
    Ok(ExitCode::SUCCESS)
}
