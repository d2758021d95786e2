//! `shmim X …` runs `shmim-X …` (git-style external subcommands), which is how `shmim bridge`
//! and `shmim ls --remote` reach the separately built `shmim-bridge`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use assert_cmd::cargo::cargo_bin;

/// A private directory holding a copy of `shmim` (so that nothing else from `target/` sits
/// next to it), removed when dropped.
struct Install(PathBuf);

impl Install {
    fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!("shmim-ext-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(p.join("bin")).unwrap();
        std::fs::copy(cargo_bin("shmim"), p.join("bin/shmim")).unwrap();
        Self(p)
    }

    fn bin(&self) -> PathBuf {
        self.0.join("bin")
    }

    /// A `shmim-NAME` script in `bin/` that prints its arguments and MILK_SHM_DIR.
    fn fake(&self, name: &str) {
        let p = self.bin().join(format!("shmim-{name}"));
        std::fs::write(
            &p,
            "#!/bin/sh\necho \"args:$*\"\necho \"dir:$MILK_SHM_DIR\"\nexit 3\n",
        )
        .unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn run(&self, args: &[&str]) -> Output {
        spawn(|| {
            let mut c = Command::new(self.bin().join("shmim"));
            c.args(args)
                .env("PATH", self.0.join("empty-path"))
                .env_remove("MILK_SHM_DIR");
            c
        })
    }
}

impl Drop for Install {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `cmd` to completion (bounded). A script just written may be briefly "text file busy"
/// when another test thread forked while its write descriptor was open: try again then.
fn spawn(make: impl Fn() -> Command) -> Output {
    for _ in 0..100 {
        match assert_cmd::Command::from_std(make())
            .timeout(Duration::from_secs(60))
            .output()
        {
            Ok(o) if !String::from_utf8_lossy(&o.stderr).contains("Text file busy") => return o,
            _ => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    panic!("could not run the command");
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn an_unknown_subcommand_runs_the_program_of_that_name_beside_shmim() {
    let i = Install::new("beside");
    i.fake("bridge");
    let dir = i.0.join("streams");
    std::fs::create_dir_all(&dir).unwrap();
    let o = i.run(&[
        "--dir",
        dir.to_str().unwrap(),
        "bridge",
        "pub",
        "cam",
        "--max-rate",
        "5",
    ]);
    assert_eq!(o.status.code(), Some(3), "its exit status is the program's");
    assert_eq!(
        stdout(&o),
        format!("args:pub cam --max-rate 5\ndir:{}\n", dir.display())
    );
}

#[test]
fn ls_remote_delegates_to_the_bridge() {
    let i = Install::new("ls");
    i.fake("bridge");
    let o = i.run(&["ls", "--remote", "--connect", "tcp/10.1.2.3:7447", "--json"]);
    assert_eq!(
        stdout(&o),
        "args:ls --connect tcp/10.1.2.3:7447 --json\ndir:\n"
    );
}

#[test]
fn a_missing_bridge_is_a_one_line_error_that_says_how_to_get_it() {
    let i = Install::new("missing");
    for args in [&["bridge", "sub", "shmim/**"][..], &["ls", "--remote"][..]] {
        let o = i.run(args);
        assert!(!o.status.success());
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains("cargo build --release -p shmim-bridge"),
            "{err}"
        );
    }
    let o = i.run(&["frobnicate"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("no subcommand \"frobnicate\""));
}

#[test]
fn a_program_on_path_is_found_too() {
    let i = Install::new("path");
    let elsewhere = i.0.join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let p = elsewhere.join("shmim-hello");
    std::fs::write(&p, "#!/bin/sh\necho hello \"$@\"\n").unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    let o = spawn(|| {
        let mut c = Command::new(i.bin().join("shmim"));
        c.args(["hello", "world"]).env("PATH", &elsewhere);
        c
    });
    assert_eq!(stdout(&o), "hello world\n");
    let _: &Path = &elsewhere;
}

#[test]
fn a_dir_that_does_not_exist_is_an_error_not_a_fallback_to_tmp() {
    let i = Install::new("nodir");
    i.fake("bridge");
    let o = i.run(&["--dir", "/no/such/dir", "bridge", "sub", "shmim/**"]);
    assert!(!o.status.success());
    assert_eq!(stdout(&o), "", "the bridge was not started");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("/no/such/dir"), "{err}");
}

#[test]
fn subcommand_names_that_are_paths_are_refused() {
    let i = Install::new("names");
    // shmim-x/evil and shmim-x/../shmim-y: reachable only if a name may hold a '/'.
    let sub = i.bin().join("shmim-x");
    std::fs::create_dir_all(&sub).unwrap();
    let evil = sub.join("evil");
    std::fs::write(&evil, "#!/bin/sh\necho ran\n").unwrap();
    std::fs::set_permissions(&evil, std::fs::Permissions::from_mode(0o755)).unwrap();
    i.fake("y");
    for name in ["x/evil", "x/../shmim-y", ".y", "..", ""] {
        let o = i.run(&[name]);
        assert!(!o.status.success(), "{name:?} ran");
        assert_eq!(stdout(&o), "", "{name:?} ran");
    }
}

#[test]
fn an_empty_path_entry_is_not_the_current_directory() {
    let i = Install::new("emptypath");
    let cwd = i.0.join("cwd");
    std::fs::create_dir_all(&cwd).unwrap();
    let p = cwd.join("shmim-hello");
    std::fs::write(&p, "#!/bin/sh\necho hello\n").unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    let o = spawn(|| {
        let mut c = Command::new(i.bin().join("shmim"));
        c.args(["hello"]).env("PATH", ":").current_dir(&cwd);
        c
    });
    assert!(!o.status.success());
    assert_eq!(stdout(&o), "");
}
