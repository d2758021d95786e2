//! `cargo xtask header [--check]`: the C headers of `libImageStreamIO`, generated with cbindgen.
//!
//! Each public header comes from one cbindgen configuration in `crates/shmim-capi/cbindgen/` and
//! the Rust source files named below; the configurations carry the few hand-written parts (the
//! `errno_t` typedef, `CLOCK_ISIO`, `ROUND_UP_8`, the CUDA handle, the `static inline` helpers).
//! The generated headers are committed under `crates/shmim-capi/include/`, and copied into
//! `crates/shmim-capi/ImageStreamIO/` (the CMake subproject directory); `--check` regenerates
//! them in memory and fails on any difference in either place, which is how CI catches a Rust change whose header
//! was not regenerated. `ImageStreamIO_atomic.h` is written by hand and not touched here.

use std::path::{Path, PathBuf};

use crate::cmd::root;

/// One generated header.
struct Header {
    /// File name under `include/`.
    file: &'static str,
    /// cbindgen configuration under `cbindgen/`.
    config: &'static str,
    /// Rust sources parsed, under `src/`.
    sources: &'static [&'static str],
}

const HEADERS: &[Header] = &[
    Header {
        file: "ImageStreamIOError.h",
        config: "ImageStreamIOError.toml",
        sources: &["error_codes.rs"],
    },
    Header {
        file: "ImageStruct.h",
        config: "ImageStruct.toml",
        sources: &["image_struct.rs"],
    },
    Header {
        file: "ImageStreamIO.h",
        config: "ImageStreamIO.toml",
        sources: &[
            "init.rs",
            "types.rs",
            "lifecycle.rs",
            "semaphores.rs",
            "update.rs",
            "buffers.rs",
            "inode.rs",
        ],
    },
];

/// The crate whose headers these are.
pub fn capi_dir() -> PathBuf {
    root().join("crates/shmim-capi")
}

fn generate(h: &Header) -> Result<String, String> {
    let dir = capi_dir();
    let config_path = dir.join("cbindgen").join(h.config);
    let config = cbindgen::Config::from_file(&config_path)
        .map_err(|e| format!("{}: {e}", config_path.display()))?;
    let mut builder = cbindgen::Builder::new().with_config(config);
    for src in h.sources {
        builder = builder.with_src(dir.join("src").join(src));
    }
    let bindings = builder
        .generate()
        .map_err(|e| format!("cbindgen for {}: {e}", h.file))?;
    let mut out = Vec::new();
    bindings.write(&mut out);
    let text = String::from_utf8(out).map_err(|e| format!("{}: not UTF-8: {e}", h.file))?;
    Ok(semicolons_inside_conditions(&text))
}

/// cbindgen 0.29 closes the `#if defined(…)` of a `#[cfg]` struct field before the field's `;`,
/// which leaves an empty declaration (`;` alone, an extension that `-Wpedantic` rejects) in the
/// struct when the macro is not defined: the `;` goes inside.
fn semicolons_inside_conditions(text: &str) -> String {
    text.replace("\n#endif\n  ;\n", ";\n#endif\n")
}

fn differs(path: &Path, text: &str) -> bool {
    std::fs::read_to_string(path).ok().as_deref() != Some(text)
}

/// Where each generated header is written: the crate's `include/` (what installs copy and the
/// tests compile against) and `ImageStreamIO/`, the directory that stands in for the legacy
/// repository in CMake projects (`add_subdirectory`), which has the three headers at its root.
fn destinations() -> [PathBuf; 2] {
    let dir = capi_dir();
    [dir.join("include"), dir.join("ImageStreamIO")]
}

/// Regenerates the headers (`check`: compares instead, failing on drift).
pub fn run(check: bool) -> Result<(), String> {
    let mut stale = Vec::new();
    for h in HEADERS {
        let text = generate(h)?;
        for dir in destinations() {
            let path = dir.join(h.file);
            if !differs(&path, &text) {
                continue;
            }
            if check {
                stale.push(path.display().to_string());
            } else {
                std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
                std::fs::write(&path, &text).map_err(|e| format!("{}: {e}", path.display()))?;
                eprintln!("wrote {}", path.display());
            }
        }
    }
    if stale.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} out of date with the Rust sources; run `cargo xtask header` and commit the result",
            stale.join(", ")
        ))
    }
}

pub fn main(args: &[String]) -> Result<(), String> {
    match args {
        [] => run(false),
        [flag] if flag == "--check" => run(true),
        _ => Err("usage: cargo xtask header [--check]".into()),
    }
}
