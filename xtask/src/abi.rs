//! `cargo xtask abi`: proves that shmim's C headers, its Rust structs and its library have the
//! ABI of ImageStreamIO 2.00, against a reference written by hand from the format description.
//!
//! ```text
//! cargo xtask abi [--features writehistory|dao-compat] [--legacy-header DIR] [--lib PATH]
//!                 [--json] [--verbose] [--table]
//! ```
//!
//! The reference is a manifest under `abi/` (`imagestruct-2.00.toml`, or `-writehistory` /
//! `-dao-compat` for the legacy compile-time variants): sizes, alignments, offsets and C types of
//! every struct in a stream file or in the API, and the legacy prototype of every function.
//! Each *side* is measured and compared with it:
//!
//! | side | how | what |
//! |---|---|---|
//! | `c:shmim` | C probe compiled against `crates/shmim-capi/include` (+ the variant record) | layout, field types, prototypes |
//! | `rust` | generated crate using `offset_of!` on `shmim-layout` and `IMAGE` of `shmim-capi` | layout |
//! | `lib` | `nm -D --defined-only libImageStreamIO.so` (debug build, or `--lib PATH`) | exported symbols |
//! | `c:legacy` | the same C probe against `--legacy-header DIR`, with the variant's macros | layout, field types, prototypes |
//!
//! All sides are compared with the same manifest, so with `--legacy-header` a line that agrees
//! on every side proves shmim and the legacy header agree with each other. The variants: shmim's
//! headers honour `IMAGESTRUCT_WRITEHISTORY` and `DAO_COMPAT` as the legacy header does, and the
//! library has the cargo features `writehistory` and `dao-compat`; a variant run compiles the C
//! probe with the variant's macro (and the `ImageStreamIO_variant.h` an install of that variant
//! writes), and the Rust probe with that feature of `shmim-layout` and `shmim-capi`. The `lib`
//! side (exported symbols, the same in every variant) is checked on the default build.
//!
//! Output: the sides with their verdicts, then the mismatches (see `abi/compare.rs` for how
//! consequences of one moved field are grouped under it); `--verbose` lists every consequence,
//! `--table` prints every item on every side, `--json` the same data for machines. Exit status
//! non-zero on any mismatch.

mod c_probe;
mod compare;
mod manifest;
mod measure;
mod report;
mod rust_probe;
mod symbols;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use crate::cmd::root;
use crate::header::capi_dir;
use crate::install::install_tree::VARIANT_HEADER;
use crate::install::{Variant, target_dir};

use c_probe::CProbe;
use compare::Mismatch;
use manifest::Manifest;
use measure::Measurement;
use rust_probe::RustProbe;

/// The layouts with a manifest: the default build and the two legacy compile-time variants
/// (named like `shmim-layout`'s cargo features).
pub const VARIANTS: &[&str] = &["default", "writehistory", "dao-compat"];

/// What to check.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `None` for the default layout, else a cargo feature of `shmim-layout`.
    pub feature: Option<String>,
    pub legacy_header: Option<PathBuf>,
    /// A built library to check instead of building the debug one.
    pub lib: Option<PathBuf>,
}

/// One side in the report.
#[derive(Debug, Clone)]
pub struct SideStatus {
    pub name: String,
    /// How it was measured.
    pub source: String,
    /// What was compared, e.g. `10 structs, 95 fields, 6 types, 40 prototypes`.
    pub counts: String,
    /// Why it was not checked.
    pub skipped: Option<String>,
}

/// The result of a check.
#[derive(Debug, Clone)]
pub struct Check {
    pub manifest: Manifest,
    pub sides: Vec<SideStatus>,
    pub measurements: Vec<Measurement>,
    pub mismatches: Vec<Mismatch>,
}

/// The manifest of a variant.
pub fn manifest_path(variant: &str) -> PathBuf {
    let file = match variant {
        "default" => "imagestruct-2.00.toml".to_string(),
        v => format!("imagestruct-2.00-{v}.toml"),
    };
    root().join("abi").join(file)
}

impl Check {
    fn new(manifest: Manifest) -> Self {
        Check {
            manifest,
            sides: Vec::new(),
            measurements: Vec::new(),
            mismatches: Vec::new(),
        }
    }

    /// Compares a measured side and records it.
    fn add(&mut self, m: Measurement) {
        let structs: Vec<_> = self
            .manifest
            .structs
            .iter()
            .filter(|s| m.covers.contains(&s.name))
            .collect();
        let fields: usize = structs.iter().map(|s| s.fields.len()).sum();
        let mut counts = format!("{} structs, {fields} fields", structs.len());
        if m.covers_types {
            counts.push_str(&format!(
                " (with their C types), {} types, {} prototypes",
                self.manifest.types.len(),
                self.manifest.functions.len()
            ));
        }
        self.mismatches.extend(compare::compare(&self.manifest, &m));
        self.sides.push(SideStatus {
            name: m.side.clone(),
            source: m.source.clone(),
            counts,
            skipped: None,
        });
        self.measurements.push(m);
    }

    fn skip(&mut self, name: &str, source: &str, why: &str) {
        self.sides.push(SideStatus {
            name: name.into(),
            source: source.into(),
            counts: String::new(),
            skipped: Some(why.into()),
        });
    }
}

/// Measures every side `options` asks for and compares it with the variant's manifest.
pub fn check(options: &Options) -> Result<Check, String> {
    let variant = options.feature.as_deref().unwrap_or("default");
    let manifest = Manifest::load(&manifest_path(variant))?;
    let default_layout = variant == "default";
    let work = target_dir().join("abi").join(variant);
    let mut check = Check::new(manifest);
    // shmim's headers with the variant's macros, and the variant record an install of a library
    // built for it would write (ImageStruct.h refuses a mismatch).
    let include = capi_dir().join("include");
    let variant_dir = work.join("variant-include");
    let record = Variant::of_feature(options.feature.as_deref())
        .header(&capi_dir())
        .map_err(|e| format!("variant header: {e}"))?;
    std::fs::create_dir_all(&variant_dir).map_err(|e| format!("{}: {e}", variant_dir.display()))?;
    std::fs::write(variant_dir.join(VARIANT_HEADER), record)
        .map_err(|e| format!("{}: {e}", variant_dir.display()))?;
    let defines = check.manifest.c_defines.clone();
    let m = CProbe {
        side: "c:shmim",
        manifest: &check.manifest,
        include: &include,
        variant_include: Some(&variant_dir),
        defines: &defines,
        work: work.join("c-shmim"),
    }
    .measure()?;
    check.add(m);
    let m = RustProbe {
        manifest: &check.manifest,
    }
    .measure()?;
    check.add(m);
    if default_layout {
        let lib = match &options.lib {
            Some(lib) => lib.clone(),
            None => crate::install::build(false)?.join("libImageStreamIO.so"),
        };
        let exported = symbols::exported(&lib)?;
        check
            .mismatches
            .extend(compare::compare_symbols(&check.manifest, &exported));
        check.sides.push(SideStatus {
            name: "lib".into(),
            source: format!("nm -D --defined-only {}", lib.display()),
            counts: format!(
                "{} functions exported, {} listed",
                exported.len(),
                check.manifest.functions.len()
            ),
            skipped: None,
        });
    } else {
        check.skip(
            "lib",
            "nm -D libImageStreamIO.so",
            "the exported symbols are the same in every variant: checked on the default build",
        );
    }
    match &options.legacy_header {
        Some(dir) => {
            let defines = check.manifest.c_defines.clone();
            let m = CProbe {
                side: "c:legacy",
                manifest: &check.manifest,
                include: dir,
                variant_include: None,
                defines: &defines,
                work: work.join("c-legacy"),
            }
            .measure()?;
            check.add(m);
        }
        None => check.skip(
            "c:legacy",
            "cc -I DIR",
            "no --legacy-header DIR (e.g. /usr/local/include/ImageStreamIO)",
        ),
    }
    Ok(check)
}

/// The `abi` CI step: the default layout and both variants.
pub fn ci() -> Result<(), String> {
    let mut failed = Vec::new();
    for variant in VARIANTS {
        let options = Options {
            feature: (*variant != "default").then(|| variant.to_string()),
            ..Options::default()
        };
        let check = check(&options)?;
        print!("{}", report::text(&check, false));
        if !check.mismatches.is_empty() {
            failed.push(*variant);
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("ABI mismatches in: {}", failed.join(", ")))
    }
}

const USAGE: &str = "usage: cargo xtask abi [--features writehistory|dao-compat] [--legacy-header DIR] [--lib PATH] [--json] [--verbose] [--table]";

pub fn main(args: &[String]) -> Result<(), String> {
    let mut options = Options::default();
    let (mut json, mut verbose, mut table) = (false, false, false);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or(format!("{a} needs a value\n{USAGE}"))
        };
        match a.as_str() {
            "--features" => {
                let f = value()?;
                if !VARIANTS[1..].contains(&f.as_str()) {
                    return Err(format!(
                        "--features takes one of writehistory, dao-compat (one variant at a time: format.md gives no figures for both together), not `{f}`"
                    ));
                }
                options.feature = Some(f);
            }
            "--legacy-header" => options.legacy_header = Some(existing_dir(&value()?)?),
            "--lib" => options.lib = Some(PathBuf::from(value()?)),
            "--json" => json = true,
            "--verbose" => verbose = true,
            "--table" => table = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => return Err(format!("unknown abi option `{other}`\n{USAGE}")),
        }
    }
    let check = check(&options)?;
    if json {
        print!("{}", report::json(&check));
    } else {
        if table {
            print!("{}", report::table(&check));
        }
        print!("{}", report::text(&check, verbose));
    }
    match check.mismatches.len() {
        0 => Ok(()),
        n => Err(format!(
            "{n} ABI mismatches against {}",
            check.manifest.path.display()
        )),
    }
}

fn existing_dir(dir: &str) -> Result<PathBuf, String> {
    let path = Path::new(dir);
    if path.join("ImageStruct.h").is_file() {
        Ok(path.canonicalize().unwrap_or_else(|_| path.to_path_buf()))
    } else {
        Err(format!(
            "{dir} holds no ImageStruct.h (give the directory of the legacy headers)"
        ))
    }
}
