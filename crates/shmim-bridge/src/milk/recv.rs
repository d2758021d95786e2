//! `shmim-bridge milk-recv --port P [--as NAME]`: accept milk's TCP transmitter.
//!
//! Listens and writes each record of a transmitter into the local stream through the normal
//! commit ([`super::connection`]). The stream is the one named in the transmitter's header (or
//! `--as`): an existing stream of the right type and shape is written into (milk users create it
//! by hand), one this receiver created is re-created when the shape changes, and any other stream
//! is left alone (the connection is refused with a log line).
//!
//! Each connection gets a thread, so that one that connects and sends nothing cannot keep the
//! next out: a connection must send its header within [`HEADER_TIMEOUT`], and at most
//! [`MAX_WAITING`] may be waiting to. The newest connection whose header is valid and whose
//! stream this receiver would write takes over: the previous one is shut down and the new one
//! writes once the old one has let go of the stream (milk's receiver serves one transmitter; a
//! restarted transmitter is the new one). A header naming a stream that would be refused (over
//! `--max-bytes` or `--max-total-bytes`, someone else's stream in the way) is refused before the
//! current connection is touched: milk's transmitter does not reconnect, so a connection ended
//! for nothing would stop the stream for good.
//!
//! `--max-total-bytes` bounds the streams this receiver writes, by name, together: each
//! transmitter can name a new stream, and the files stay after the connection ends. A name
//! keeps its share (its file's size, the latest one written) for the life of the process.
//! Accepted sockets have TCP keep-alive on, so a vanished peer is noticed eventually even while
//! its stream is idle (a live transmitter of an idle stream sends nothing, so there is no read
//! timeout on records).

use std::collections::HashMap;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use clap::Args;

use super::MilkArgs;
use super::connection::{Connection, Destination, read_record};
use super::header;
use crate::error::{BridgeError, Result};
use crate::log::log;
use crate::mirror::budget::{Budget, Reservation};

/// How long a new connection has to send its header.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections that may be waiting to send their header at once; more are closed at once.
pub const MAX_WAITING: usize = 16;

/// `milk-recv`'s options.
#[derive(Debug, Clone, Args)]
pub struct RecvArgs {
    /// TCP port to listen on.
    #[arg(long)]
    pub port: u16,
    /// Address to listen on (milk listens on every interface: pass 0.0.0.0 for that).
    #[arg(long, default_value = "127.0.0.1", value_name = "ADDR")]
    pub bind: String,
    /// Local stream name (default: the name in the transmitter's header).
    #[arg(long = "as", value_name = "NAME")]
    pub as_name: Option<String>,
    /// Directory, header and trailer options.
    #[command(flatten)]
    pub milk: MilkArgs,
    /// Refuse streams whose file (frames, keywords, semaphores) would be larger than this many
    /// bytes.
    #[arg(long, value_name = "N", default_value_t = 1 << 30)]
    pub max_bytes: u64,
    /// Refuse a transmitter when the streams this receiver writes would take more than this
    /// many bytes together.
    #[arg(long, value_name = "N", default_value_t = 4 << 30)]
    pub max_total_bytes: u64,
    /// Exit after this many frames (all connections together).
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
}

/// What the connection threads share.
pub struct Shared {
    /// The options.
    pub args: RecvArgs,
    /// The stream directory.
    pub dir: PathBuf,
    /// The listening address, the mark's source of the streams this receiver creates.
    pub source: String,
    /// Tells the main thread that `--count` frames were received.
    done: Mutex<mpsc::Sender<()>>,
    state: Mutex<State>,
    /// Held by the connection that writes, for as long as it has the stream open.
    writing: Mutex<()>,
    /// `--max-total-bytes`.
    budget: Arc<Budget>,
    /// The share of the budget of each stream written, by name.
    shares: Mutex<HashMap<String, Reservation>>,
}

#[derive(Default)]
struct State {
    /// Frames received by all connections.
    total: u64,
    /// Connections that sent a valid header so far (numbers them).
    headers: u64,
    /// Connections waiting to send their header.
    waiting: usize,
    /// The connection that writes (its number and a handle to shut it down).
    current: Option<(u64, TcpStream)>,
}

impl Shared {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts a frame received; `--count` reached ends the program.
    pub fn received(&self) {
        let total = {
            let mut s = self.state();
            s.total += 1;
            s.total
        };
        if self.args.count.is_some_and(|n| total >= n) {
            let _ = self.done.lock().unwrap_or_else(|p| p.into_inner()).send(());
        }
    }

    /// Takes `bytes` of `--max-total-bytes` for stream `name` (in place of its earlier share),
    /// or says why not (its earlier share is then kept).
    fn reserve(&self, name: &str, bytes: u64) -> Result<()> {
        let mut shares = self.shares.lock().unwrap_or_else(|p| p.into_inner());
        // The earlier share is given back here (dropped), remembering its size.
        let earlier = shares.remove(name).map(|r| r.bytes());
        match self.budget.reserve(name, bytes) {
            Ok(r) => {
                shares.insert(name.to_owned(), r);
                Ok(())
            }
            Err(e) => {
                // Only this map reserves, under its lock: what was just given back fits again.
                if let Some(r) = earlier.and_then(|b| self.budget.reserve(name, b).ok()) {
                    shares.insert(name.to_owned(), r);
                }
                Err(e)
            }
        }
    }

    /// Whether `--count` frames were received.
    pub fn finished(&self) -> bool {
        let total = self.state().total;
        self.args.count.is_some_and(|n| total >= n)
    }
}

/// Runs `milk-recv`.
pub fn run(a: &RecvArgs) -> Result<ExitCode> {
    if let Some(n) = &a.as_name {
        shmim_core::validate_name(n)?;
    }
    let dir = crate::source::stream_dir(a.milk.dir.as_deref())?;
    let listener = TcpListener::bind((a.bind.as_str(), a.port))
        .map_err(|e| BridgeError::io(format!("listen on {}:{}", a.bind, a.port), e))?;
    log(format_args!(
        "milk-recv: listening on {}:{}",
        a.bind, a.port
    ));
    let (done_tx, done_rx) = mpsc::channel();
    let shared = Arc::new(Shared {
        args: a.clone(),
        dir,
        source: format!("{}:{}", a.bind, a.port),
        done: Mutex::new(done_tx.clone()),
        state: Mutex::new(State::default()),
        writing: Mutex::new(()),
        budget: Budget::new(a.max_total_bytes),
        shares: Mutex::new(HashMap::new()),
    });
    let accepting = Arc::clone(&shared);
    std::thread::Builder::new()
        .name("milk-accept".into())
        .spawn(move || {
            let e = accept_loop(&listener, &accepting);
            log(format_args!("milk-recv: {e}"));
            let _ = done_tx.send(());
        })
        .map_err(|e| BridgeError::io("start the accepting thread", e))?;
    // Returns when --count frames were received (or accepting failed).
    let _ = done_rx.recv();
    Ok(ExitCode::SUCCESS)
}

/// Accepts connections, one thread each; returns only if accepting fails.
fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) -> BridgeError {
    loop {
        let (conn, peer) = match listener.accept() {
            Ok(c) => c,
            Err(e) => return BridgeError::io("accept a transmitter", e),
        };
        {
            let mut s = shared.state();
            if s.waiting >= MAX_WAITING {
                log(format_args!(
                    "milk-recv: {peer} refused: {MAX_WAITING} connections already waiting to send their header"
                ));
                continue;
            }
            s.waiting += 1;
        }
        let _ = conn.set_nodelay(true);
        let _ = rustix::net::sockopt::set_socket_keepalive(&conn, true);
        log(format_args!("milk-recv: transmitter {peer} connected"));
        let s = Arc::clone(shared);
        let spawned = std::thread::Builder::new()
            .name(format!("milk {peer}"))
            .spawn(move || serve(&s, conn, peer.to_string()));
        if let Err(e) = spawned {
            shared.state().waiting -= 1;
            log(format_args!(
                "milk-recv: {peer}: cannot start a thread: {e}"
            ));
        }
    }
}

/// One connection: its header, then (once it is the newest) its records.
fn serve(shared: &Shared, mut conn: TcpStream, peer: String) {
    let header = read_header(shared, &mut conn);
    shared.state().waiting -= 1;
    let img = match header {
        Ok(Some(img)) => img,
        Ok(None) => return log(format_args!("milk-recv: {peer} closed before its header")),
        Err(e) => return log(format_args!("milk-recv: {peer}: {e}")),
    };
    // Refused before the current connection is touched (it goes on).
    let d = Destination::of(shared, &img);
    if let Err(e) = d
        .check(shared)
        .and_then(|bytes| shared.reserve(&d.name, bytes))
    {
        return log(format_args!(
            "milk-recv: {peer} refused: {e}; the current transmitter, if any, goes on"
        ));
    }
    // The newest valid connection takes over: the previous one is shut down (its blocked read
    // returns), and this one waits until it has let go of the stream.
    let number = {
        let mut s = shared.state();
        s.headers += 1;
        if let Some((_, old)) = s.current.take() {
            let _ = old.shutdown(Shutdown::Both);
        }
        s.current = conn.try_clone().ok().map(|c| (s.headers, c));
        s.headers
    };
    let _writing = shared.writing.lock().unwrap_or_else(|p| p.into_inner());
    let newest = || {
        shared
            .state()
            .current
            .as_ref()
            .is_some_and(|(n, _)| *n == number)
    };
    if !newest() {
        return log(format_args!(
            "milk-recv: {peer} replaced by a newer transmitter before it started"
        ));
    }
    let mut c = Connection::new(shared, peer.clone());
    let served = c.serve(conn, &img);
    if !newest() {
        // This receiver shut the connection down (whatever the read then said).
        return log(format_args!(
            "milk-recv: {peer} replaced by a newer transmitter after {} frames",
            c.frames
        ));
    }
    match served {
        Ok(()) => log(format_args!(
            "milk-recv: transmitter {peer} closed the connection after {} frames",
            c.frames
        )),
        Err(e) => log(format_args!(
            "milk-recv: {peer}: {e}; waiting for the next transmitter"
        )),
    }
}

/// Reads and checks the header, within [`HEADER_TIMEOUT`]; `None` if the peer closed first.
fn read_header(shared: &Shared, conn: &mut TcpStream) -> Result<Option<header::RemoteImage>> {
    conn.set_read_timeout(Some(HEADER_TIMEOUT))
        .map_err(|e| BridgeError::io("set a read timeout", e))?;
    let mut raw = vec![0u8; shared.args.milk.header.bytes()];
    let got = read_record(conn, &mut raw).map_err(|e| match e {
        BridgeError::Io { source, .. }
            if matches!(
                source.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            BridgeError::Milk(format!(
                "no header within {} s: closed",
                HEADER_TIMEOUT.as_secs()
            ))
        }
        e => e,
    })?;
    if !got {
        return Ok(None);
    }
    conn.set_read_timeout(None)
        .map_err(|e| BridgeError::io("clear the read timeout", e))?;
    header::parse(&raw).map(Some)
}
