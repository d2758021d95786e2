//! `setup` step: installs what the later steps need, so `cargo xtask ci` passes on a fresh clone
//! with nothing run before it.
//!
//! Each requirement has a probe (is it already here?) and a remedy (how to get it): rustup
//! components for the stable and nightly toolchains, Debian packages through `apt-get` (as root,
//! the way CI and the development machines run). Nothing is installed when every probe passes,
//! so the step costs a few process starts on a prepared machine.

use std::process::{Command, Stdio};

use crate::cmd::run;

/// Where a missing requirement comes from.
enum Remedy {
    /// `rustup component add NAME… [--toolchain T]`.
    Rustup {
        toolchain: Option<&'static str>,
        components: &'static [&'static str],
    },
    /// Debian packages.
    Apt(&'static [&'static str]),
}

/// One thing a later CI step needs.
struct Requirement {
    what: &'static str,
    /// Returns true when the requirement is met.
    probe: fn() -> bool,
    remedy: Remedy,
}

fn requirements() -> Vec<Requirement> {
    vec![
        Requirement {
            what: "rustfmt and clippy (fmt, clippy steps)",
            probe: || {
                quiet(Command::new("cargo").args(["fmt", "--version"]))
                    && quiet(Command::new("cargo").args(["clippy", "--version"]))
            },
            remedy: Remedy::Rustup {
                toolchain: None,
                components: &["rustfmt", "clippy"],
            },
        },
        Requirement {
            what: "Miri and the standard library's source on nightly (miri, tsan steps)",
            probe: || {
                quiet(Command::new("cargo").args(["+nightly", "miri", "--version"]))
                    && nightly_has_rust_src()
            },
            remedy: Remedy::Rustup {
                toolchain: Some("nightly"),
                components: &["miri", "rust-src"],
            },
        },
        Requirement {
            what: "setfacl and getfacl (test step: new streams keep a directory's default ACL)",
            probe: || quiet(Command::new("setfacl").arg("--version")),
            remedy: Remedy::Apt(&["acl"]),
        },
        Requirement {
            what: "pkg-config (capi-c step)",
            probe: || quiet(Command::new("pkg-config").arg("--version")),
            remedy: Remedy::Apt(&["pkg-config"]),
        },
        Requirement {
            what: "cmake and valgrind (capi-cmake step)",
            probe: || {
                quiet(Command::new("cmake").arg("--version"))
                    && quiet(Command::new("valgrind").arg("--version"))
            },
            remedy: Remedy::Apt(&["cmake", "valgrind"]),
        },
        Requirement {
            what: "the C compiler's sanitizer runtimes (capi-asan step)",
            probe: cc_sanitizers_link,
            remedy: Remedy::Apt(&["libasan8", "libubsan1", "libtsan2"]),
        },
        Requirement {
            what: "python3 >= 3.9 with venv and pip (python step)",
            probe: || {
                quiet(Command::new("python3").args(["-c", "import venv, ensurepip"]))
                    && crate::python::python_version("python3")
                        .is_some_and(|v| v >= crate::python::OLDEST_PYTHON)
            },
            remedy: Remedy::Apt(&["python3-venv", "python3-pip"]),
        },
        Requirement {
            what: "the independent FITS readers of the shmim-fits tests: fitsverify and astropy \
                   (Debian's, for /usr/bin/python3) (test step)",
            probe: || {
                quiet(Command::new("fitsverify").arg("-h"))
                    && quiet(
                        Command::new("/usr/bin/python3").args(["-c", "import astropy.io.fits"]),
                    )
            },
            remedy: Remedy::Apt(&["fitsverify", "python3-astropy"]),
        },
    ]
}

/// Runs a command with its output hidden; true when it exits 0.
fn quiet(c: &mut Command) -> bool {
    c.stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn nightly_has_rust_src() -> bool {
    let Ok(out) = Command::new("rustc")
        .args(["+nightly", "--print", "sysroot"])
        .output()
    else {
        return false;
    };
    let sysroot = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    std::path::Path::new(&sysroot)
        .join("lib/rustlib/src/rust/library/std/src/lib.rs")
        .exists()
}

/// Whether `cc -fsanitize=address,undefined` and `-fsanitize=thread` link a trivial program.
fn cc_sanitizers_link() -> bool {
    let dir = std::env::temp_dir().join(format!("shmim-setup-{}", std::process::id()));
    if std::fs::create_dir_all(&dir).is_err() {
        return false;
    }
    let src = dir.join("p.c");
    let ok = std::fs::write(&src, "int main(void) { return 0; }\n").is_ok()
        && ["-fsanitize=address,undefined", "-fsanitize=thread"]
            .iter()
            .all(|flag| {
                quiet(
                    Command::new("cc")
                        .arg(flag)
                        .arg(&src)
                        .arg("-o")
                        .arg(dir.join("p")),
                )
            });
    let _ = std::fs::remove_dir_all(&dir);
    ok
}

fn apt_install(packages: &[&str]) -> Result<(), String> {
    if !is_root() {
        return Err(format!(
            "missing Debian packages {packages:?}; install them (as root: apt-get install {}) \
             and run again",
            packages.join(" ")
        ));
    }
    run(Command::new("apt-get").args(["update", "-qq"]))?;
    run(Command::new("apt-get")
        .args(["install", "-y", "-qq", "--no-install-recommends"])
        .args(packages)
        .env("DEBIAN_FRONTEND", "noninteractive"))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// The CI step: probes every requirement, installs the missing ones, probes again.
pub fn ensure() -> Result<(), String> {
    let mut apt: Vec<&str> = Vec::new();
    for req in requirements() {
        if (req.probe)() {
            eprintln!("  have {}", req.what);
            continue;
        }
        eprintln!("  need {}", req.what);
        match req.remedy {
            Remedy::Rustup {
                toolchain,
                components,
            } => {
                let mut c = Command::new("rustup");
                c.args(["component", "add"]).args(components);
                if let Some(t) = toolchain {
                    c.args(["--toolchain", t]);
                }
                run(&mut c)?;
            }
            Remedy::Apt(packages) => apt.extend_from_slice(packages),
        }
    }
    if !apt.is_empty() {
        apt_install(&apt)?;
    }
    let still: Vec<&str> = requirements()
        .into_iter()
        .filter(|r| !(r.probe)())
        .map(|r| r.what)
        .collect();
    if still.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "still missing after installing: {}",
            still.join("; ")
        ))
    }
}
