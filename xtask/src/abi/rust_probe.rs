//! The Rust probe: the Rust side of the ABI, measured with `core::mem::offset_of!`.
//!
//! xtask generates a tiny crate under `TARGET/abi/rust-probe-VARIANT/` that depends on
//! `shmim-layout` and `shmim-capi` (whose `image_struct` module holds `IMAGE`, the one struct that
//! is not in the file and so not in `shmim-layout`), both built with the variant's cargo feature.
//! Its `main` prints the size, alignment, offsets and field sizes of every manifest struct it has
//! a Rust counterpart for, in the C probe's output format.
//!
//! Why a generated crate and not a dependency of xtask: the variants are cargo features of
//! `shmim-layout` and `shmim-capi`, so each needs its own build of them; a separate crate (its own
//! workspace, the main `Cargo.lock` copied in) builds each variant once without rebuilding xtask.
//! The default probe shares the main target directory; the variants share one of their own (see
//! `cargo_target`).
//!
//! Rust types are not C types, so this side reports offsets and sizes only; field types are
//! compared by the C probes.

use std::path::PathBuf;

use super::manifest::Manifest;
use super::measure::{Measurement, ProbeSource, compile_dropping_rejected};
use crate::cmd::{cargo, root};
use crate::install::{target_dir, variant_target_dir};

/// A manifest struct and its Rust counterpart.
struct RustStruct {
    c: &'static str,
    rust: &'static str,
    /// C field name → Rust field name, where they differ (union members keep their names).
    renames: &'static [(&'static str, &'static str)],
}

const RUST_STRUCTS: &[RustStruct] = &[
    RustStruct {
        c: "IMAGE_METADATA",
        rust: "shmim_layout::ImageMetadata",
        renames: &[
            ("creatorPID", "creator_pid"),
            ("ownerPID", "owner_pid"),
            ("NBproctrace", "nb_proctrace"),
            ("NBkw", "nb_kw"),
            ("CBsize", "cb_size"),
            ("CBindex", "cb_index"),
            ("CBcycle", "cb_cycle"),
            ("wCBindex", "w_cb_index"),
            ("wCBcycle", "w_cb_cycle"),
            ("cudaMemHandle", "cuda_mem_handle"),
            ("lastPos", "last_pos"),
            ("lastNb", "last_nb"),
            ("packetNb", "packet_nb"),
            ("packetTotal", "packet_total"),
            ("lastNbArray", "last_nb_array"),
        ],
    },
    RustStruct {
        c: "IMAGE_KEYWORD",
        rust: "shmim_layout::ImageKeyword",
        renames: &[("type", "kw_type")],
    },
    RustStruct {
        c: "STREAM_PROC_TRACE",
        rust: "shmim_layout::StreamProcTrace",
        renames: &[("procwrite_PID", "procwrite_pid")],
    },
    RustStruct {
        c: "CBFRAMEMD",
        rust: "shmim_layout::CbFrameMd",
        renames: &[],
    },
    RustStruct {
        c: "FRAMEWRITEMD",
        rust: "shmim_layout::FrameWriteMd",
        renames: &[],
    },
    RustStruct {
        c: "SEMFILEDATA",
        rust: "shmim_layout::SemSlot",
        renames: &[("semdata", "bytes")],
    },
    RustStruct {
        c: "complex_float",
        rust: "shmim_layout::ComplexF32",
        renames: &[],
    },
    RustStruct {
        c: "complex_double",
        rust: "shmim_layout::ComplexF64",
        renames: &[],
    },
    RustStruct {
        c: "TIMESPECFIXED",
        rust: "shmim_layout::Timespec",
        renames: &[("firstlong", "tv_sec"), ("secondlong", "tv_nsec")],
    },
    RustStruct {
        c: "IMAGE",
        rust: "ImageStreamIO::image_struct::IMAGE",
        renames: &[],
    },
];

/// The Rust probe of one manifest.
pub struct RustProbe<'a> {
    pub manifest: &'a Manifest,
}

impl RustProbe<'_> {
    fn default_layout(&self) -> bool {
        self.manifest.variant == "default"
    }

    fn work(&self) -> PathBuf {
        target_dir()
            .join("abi")
            .join(format!("rust-probe-{}", self.manifest.variant))
    }

    /// Where the probe is built: the main target directory for the default layout; for a
    /// variant, one of its own (`TARGET/variants`), because a variant build of `shmim-capi`
    /// writes `libImageStreamIO.so`/`.a` under the same unhashed names as the default build,
    /// which the C tests and installs of the default library would then pick up.
    fn cargo_target(&self) -> PathBuf {
        if self.default_layout() {
            target_dir()
        } else {
            variant_target_dir()
        }
    }

    fn package(&self) -> String {
        format!("shmim-abi-probe-{}", self.manifest.variant)
    }

    /// The Rust counterparts this build has.
    fn structs(&self) -> impl Iterator<Item = &'static RustStruct> + '_ {
        RUST_STRUCTS
            .iter()
            .filter(|r| self.manifest.find_struct(r.c).is_some())
    }

    /// Builds and runs the probe crate.
    pub fn measure(&self) -> Result<Measurement, String> {
        let work = self.work();
        std::fs::create_dir_all(work.join("src"))
            .map_err(|e| format!("{}: {e}", work.display()))?;
        write_if_changed(&work.join("Cargo.toml"), &self.cargo_toml())?;
        let lock = std::fs::read_to_string(root().join("Cargo.lock")).unwrap_or_default();
        write_if_changed(&work.join("Cargo.lock"), &lock)?;
        let manifest_path = work.join("Cargo.toml");
        let rejected = compile_dropping_rejected(
            &self.source(),
            &work.join("src/main.rs"),
            "main.rs:",
            || {
                let mut c = cargo();
                c.args([
                    "build",
                    "--quiet",
                    "--message-format",
                    "short",
                    "--manifest-path",
                ])
                .arg(&manifest_path)
                .env("CARGO_TARGET_DIR", self.cargo_target());
                c
            },
        )?;
        let exe = self.cargo_target().join("debug").join(self.package());
        let out = std::process::Command::new(&exe)
            .output()
            .map_err(|e| format!("cannot run {}: {e}", exe.display()))?;
        if !out.status.success() {
            return Err(format!("{} failed ({})", exe.display(), out.status));
        }
        let crates = if self.default_layout() {
            "shmim-layout, IMAGE from shmim-capi".to_string()
        } else {
            format!(
                "shmim-layout and shmim-capi (IMAGE) --features {}",
                self.manifest.variant
            )
        };
        let mut m = Measurement {
            side: "rust".into(),
            source: format!("offset_of! in {crates}"),
            covers: self.structs().map(|r| r.c.to_string()).collect(),
            rejected,
            ..Measurement::default()
        };
        m.read_output(&String::from_utf8_lossy(&out.stdout))?;
        Ok(m)
    }

    fn cargo_toml(&self) -> String {
        let crates = root().join("crates");
        let features = if self.default_layout() {
            String::new()
        } else {
            format!(", features = [\"{}\"]", self.manifest.variant)
        };
        let deps = format!(
            "shmim-layout = {{ path = \"{}\"{features} }}\nshmim-capi = {{ path = \"{}\"{features} }}\n",
            crates.join("shmim-layout").display(),
            crates.join("shmim-capi").display()
        );
        format!(
            "# Generated by `cargo xtask abi` (xtask/src/abi/rust_probe.rs); rewritten on every run.\n\
             [package]\nname = \"{}\"\nversion = \"0.0.0\"\nedition = \"2024\"\npublish = false\n\n\
             [dependencies]\n{deps}\n# Not part of the shmim workspace.\n[workspace]\n",
            self.package()
        )
    }

    fn source(&self) -> ProbeSource {
        let prologue = format!(
            "//! Generated by `cargo xtask abi` from {}.\n\
             #![allow(unused_unsafe)]\n\
             use core::mem::{{align_of, offset_of, size_of}};\n\
             /// The size of the field `_f` selects.\n\
             fn field_size<T, F>(_f: fn(&T) -> &F) -> usize {{\n    size_of::<F>()\n}}\n\
             fn main() {{\n",
            self.manifest.path.display()
        );
        let mut items = Vec::new();
        for r in self.structs() {
            let Some(s) = self.manifest.find_struct(r.c) else {
                continue;
            };
            let t = r.rust;
            items.push((
                s.name.clone(),
                format!(
                    "    println!(\"struct\\t{}\\t{{}}\\t{{}}\", size_of::<{t}>(), align_of::<{t}>());",
                    s.name
                ),
            ));
            for f in &s.fields {
                let path = rust_path(r, &f.path);
                let item = format!("{}.{}", s.name, f.path);
                items.push((
                    item.clone(),
                    format!(
                        "    println!(\"field\\t{item}\\t{{}}\\t{{}}\\t-\\t-\", offset_of!({t}, {path}), field_size(|s: &{t}| unsafe {{ &s.{path} }}));"
                    ),
                ));
            }
        }
        ProbeSource {
            prologue,
            items,
            epilogue: "}\n".into(),
        }
    }
}

/// The Rust member path of a manifest field path (`value.numl` stays, `type` is `kw_type`).
fn rust_path(r: &RustStruct, c_path: &str) -> String {
    let (head, tail) = match c_path.split_once('.') {
        Some((h, t)) => (h, Some(t)),
        None => (c_path, None),
    };
    let head = r
        .renames
        .iter()
        .find(|(c, _)| *c == head)
        .map(|(_, rust)| rust.to_string())
        .unwrap_or_else(|| match head {
            "type" => "r#type".to_string(),
            other => other.to_string(),
        });
    match tail {
        Some(t) => format!("{head}.{t}"),
        None => head,
    }
}

fn write_if_changed(path: &std::path::Path, text: &str) -> Result<(), String> {
    if std::fs::read_to_string(path).ok().as_deref() == Some(text) {
        return Ok(());
    }
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}
