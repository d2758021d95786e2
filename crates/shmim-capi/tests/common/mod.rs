//! Building and running the C test programs of `tests/c/` against a real installation.
//!
//! The first test to need it installs the library built for this test run (the `.so` and `.a`
//! cargo placed next to this test binary) into a private prefix with the same code as
//! `cargo xtask install`, then compiles every program with `cc` and the flags
//! `pkg-config --cflags --libs ImageStreamIO` gives for that prefix. Missing `cc` or
//! `pkg-config` fails the tests: nothing is skipped.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};

#[path = "../../tools/install_tree.rs"]
mod install_tree;

/// The installation the programs are built against.
pub struct Toolchain {
    /// Scratch space of this test process.
    pub work: PathBuf,
    /// The installation prefix.
    pub prefix: PathBuf,
    /// `pkg-config --cflags ImageStreamIO`.
    pub cflags: Vec<String>,
    /// `pkg-config --libs ImageStreamIO`.
    pub libs: Vec<String>,
    /// Executables built so far, by command, and how many builds were started.
    built: Mutex<(HashMap<String, PathBuf>, usize)>,
}

/// `tests/c/`.
pub fn c_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c")
}

/// The private configuration header's directory (written by build.rs).
pub fn config_dir() -> &'static str {
    env!("SHMIM_CAPI_CONFIG_DIR")
}

pub fn require(tool: &str) {
    let ok = Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "`{tool}` is needed to build the C tests of libImageStreamIO (install it; nothing is skipped)"
    );
}

/// Runs a command to completion, panicking with its output if it fails.
pub fn checked(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({})\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn words(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(String::from)
        .collect()
}

/// `pkg-config ARGS ImageStreamIO` against the test installation.
pub fn pkg_config(prefix: &Path, args: &[&str]) -> Output {
    checked(
        Command::new("pkg-config")
            .args(args)
            .arg("ImageStreamIO")
            .env("PKG_CONFIG_PATH", prefix.join("lib/pkgconfig")),
    )
}

/// Removes scratch directories of earlier test processes that no longer run.
fn sweep(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for e in entries.flatten() {
        let pid = e.file_name().to_string_lossy().parse::<i32>().unwrap_or(0);
        // SAFETY: kill with signal 0 only checks whether the process exists; pid > 0.
        let gone = pid > 0
            && unsafe { libc::kill(pid, 0) } != 0
            && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
        if gone {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// The layout variant this test build has (the crate's features).
pub fn variant() -> install_tree::Variant {
    install_tree::Variant {
        writehistory: cfg!(feature = "writehistory"),
        dao_compat: cfg!(feature = "dao-compat"),
    }
}

/// The installation, made once per test process.
pub fn toolchain() -> &'static Toolchain {
    static T: OnceLock<Toolchain> = OnceLock::new();
    T.get_or_init(|| {
        require("cc");
        require("pkg-config");
        let exe = std::env::current_exe().expect("test binary path");
        // Cargo builds every crate type of the library into the directory of this binary.
        let built = exe.parent().expect("deps directory").to_path_buf();
        assert!(
            built.join("libImageStreamIO.so").is_file()
                && built.join("libImageStreamIO.a").is_file(),
            "libImageStreamIO.so/.a not found next to {}",
            exe.display()
        );
        let parent = built
            .parent()
            .expect("profile directory")
            .join("capi-c-tests");
        sweep(&parent);
        let work = parent.join(std::process::id().to_string());
        let _ = std::fs::remove_dir_all(&work);
        let prefix = work.join("prefix");
        install_tree::Install {
            prefix: &prefix,
            built: &built,
            capi: Path::new(env!("CARGO_MANIFEST_DIR")),
            version: env!("CARGO_PKG_VERSION"),
            variant: variant(),
            strip: false,
        }
        .run()
        .expect("install into the test prefix");
        Toolchain {
            cflags: words(&pkg_config(&prefix, &["--cflags"])),
            libs: words(&pkg_config(&prefix, &["--libs"])),
            work,
            prefix,
            built: Mutex::new((HashMap::new(), 0)),
        }
    })
}

impl Toolchain {
    /// Compiles `tests/c/<src>` with `compiler`: `flags` before the source, `after` (objects and
    /// libraries) behind it, then the pkg-config flags unless `linked` is false. Once per
    /// distinct command; returns the executable.
    pub fn build_with(
        &self,
        compiler: &str,
        src: &str,
        flags: &[&str],
        after: &[&str],
        linked: bool,
    ) -> PathBuf {
        let key = format!("{compiler} {src} {flags:?} {after:?} {linked}");
        let mut built = self.built.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(exe) = built.0.get(&key) {
            return exe.clone();
        }
        built.1 += 1;
        let bin = self.work.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let exe = bin.join(format!("{}-{}", src.replace('.', "_"), built.1));
        let mut cmd = Command::new(compiler);
        cmd.args(flags)
            .arg(c_dir().join(src))
            .args(after)
            .arg("-o")
            .arg(&exe);
        if linked {
            cmd.args(&self.cflags)
                .args(&self.libs)
                .arg(format!("-Wl,-rpath,{}", self.prefix.join("lib").display()));
        }
        checked(&mut cmd);
        built.0.insert(key, exe.clone());
        exe
    }

    /// A test program built the way this suite builds them: warnings are errors, the test
    /// helpers and the private configuration header are on the include path.
    pub fn build(&self, src: &str) -> PathBuf {
        self.build_extra(src, &[])
    }

    /// [`Toolchain::build`] with AddressSanitizer and UndefinedBehaviorSanitizer in the program
    /// (the Rust library is not instrumented, but its `malloc`/`free` go through ASan's, so its
    /// heap blocks are bounds- and leak-checked too). Run it with [`run_asan`].
    pub fn build_asan(&self, src: &str) -> PathBuf {
        self.build_extra(src, ASAN_FLAGS)
    }

    fn build_extra(&self, src: &str, extra: &[&str]) -> PathBuf {
        let config = format!("-I{}", config_dir());
        let helpers = format!("-I{}", c_dir().display());
        let mut flags = vec![
            "-std=gnu11",
            "-O1",
            "-g",
            "-Wall",
            "-Wextra",
            "-Werror",
            &helpers,
            &config,
        ];
        flags.extend_from_slice(extra);
        self.build_with("cc", src, &flags, &[], true)
    }
}

/// Compiler flags of the sanitized builds: any ASan or UBSan finding ends the program.
pub const ASAN_FLAGS: &[&str] = &[
    "-fsanitize=address,undefined",
    "-fno-omit-frame-pointer",
    "-fno-sanitize-recover=all",
];

/// A command for a sanitized program: leak checking on, a sanitizer finding exits with status 86
/// (a crash of the program is a signal, a failed `CHECK` status 1).
pub fn asan_command(exe: &Path, args: &[&str], dir: &Path) -> Command {
    let mut cmd = Command::new(exe);
    cmd.args(args)
        .env("MILK_SHM_DIR", dir)
        .env(
            "ASAN_OPTIONS",
            "detect_leaks=1:halt_on_error=1:exitcode=86:detect_stack_use_after_return=1:handle_abort=1",
        )
        .env("LSAN_OPTIONS", "exitcode=86")
        .env("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1");
    cmd
}

/// Runs a sanitized program to completion; panics with its output if it fails or a sanitizer
/// reported anything.
pub fn run_asan(exe: &Path, args: &[&str], dir: &Path) -> Output {
    let out = checked(&mut asan_command(exe, args, dir));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("Sanitizer") && !stderr.contains("runtime error"),
        "{} {args:?}: sanitizer report\n{stderr}",
        exe.display()
    );
    out
}

/// A private stream directory for one test (`MILK_SHM_DIR` of its programs).
pub struct StreamDir(PathBuf);

impl StreamDir {
    pub fn new(test: &str) -> Self {
        let dir = toolchain().work.join("streams").join(test);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for StreamDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs a program in `dir` to completion; panics with its output if it fails.
pub fn run(exe: &Path, args: &[&str], dir: &StreamDir) -> Output {
    checked(Command::new(exe).args(args).env("MILK_SHM_DIR", dir.path()))
}

/// A program the test talks to line by line (its stdin and stdout).
pub struct Peer {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl Peer {
    pub fn spawn(exe: &Path, args: &[&str], dir: &StreamDir) -> Self {
        let mut cmd = Command::new(exe);
        cmd.args(args).env("MILK_SHM_DIR", dir.path());
        Self::start(cmd)
    }

    /// Starts `cmd` (program, arguments and environment set) as a peer.
    pub fn start(mut cmd: Command) -> Self {
        let exe = PathBuf::from(cmd.get_program());
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", exe.display()));
        Self {
            name: exe.file_name().unwrap().to_string_lossy().into_owned(),
            stdin: child.stdin.take(),
            stdout: BufReader::new(child.stdout.take().unwrap()),
            child,
        }
    }

    /// Waits for the program to say `line` (a program that dies or hangs past its own watchdog
    /// closes its stdout, which fails the test here).
    pub fn expect(&mut self, line: &str) {
        let mut got = String::new();
        self.stdout.read_line(&mut got).unwrap();
        if got.trim_end() != line {
            let status = self.child.wait().unwrap();
            panic!(
                "{} said {:?}, expected {line:?} (exited: {status})",
                self.name,
                got.trim_end()
            );
        }
    }

    pub fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }

    /// Waits for the program to exit and checks it succeeded.
    pub fn finish(mut self) {
        drop(self.stdin.take());
        let status = self.child.wait().unwrap();
        assert!(status.success(), "{} failed: {status}", self.name);
    }
}

/// Frame `k` of the cross-process tests (`tests/c/frames.h`): pixel i = k * 4096 + i.
pub fn frame(k: u64) -> Vec<u32> {
    (0..4096u32)
        .map(|i| (k.wrapping_mul(4096) as u32).wrapping_add(i))
        .collect()
}
