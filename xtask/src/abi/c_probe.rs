//! The C probe: a program generated from the manifest, compiled with `cc` against a header
//! directory (shmim's `crates/shmim-capi/include`, or a legacy one), that prints what the
//! compiler made of every manifest item.
//!
//! For each struct it prints `sizeof` and `_Alignof`; for each field `offsetof`, `sizeof` and
//! whether the field's type is compatible with the manifest's C type
//! (`__builtin_types_compatible_p(__typeof__(((S *)0)->f), T)`, decided at compile time), with a
//! name for the type it has when it is not; for each function whether its declared type is
//! compatible with the manifest's prototype — exactly what assigning it to a pointer of the
//! legacy prototype type requires. Items a header lacks fail on their own line and are reported
//! as missing (see `measure.rs`).

use std::path::{Path, PathBuf};
use std::process::Command;

use super::manifest::Manifest;
use super::measure::{Measurement, ProbeSource, compile_dropping_rejected};

/// One compilation of the probe.
pub struct CProbe<'a> {
    /// `c:shmim` or `c:legacy`.
    pub side: &'a str,
    pub manifest: &'a Manifest,
    /// Directory holding `ImageStruct.h` and `ImageStreamIO.h`.
    pub include: &'a Path,
    /// A second include directory (shmim's generated `ImageStreamIO_variant.h`).
    pub variant_include: Option<&'a Path>,
    /// Macros to define (`IMAGESTRUCT_WRITEHISTORY` for that variant).
    pub defines: &'a [String],
    /// Scratch directory for the source and binary.
    pub work: PathBuf,
}

/// Type names tried, in order, to name a field's type when it is not the expected one (the
/// manifest's own types are tried after these).
const TYPE_NAMES: &[&str] = &[
    "int8_t",
    "uint8_t",
    "int16_t",
    "uint16_t",
    "int32_t",
    "uint32_t",
    "int64_t",
    "uint64_t",
    "char",
    "float",
    "double",
    "long double",
    "long long",
    "unsigned long long",
    "void *",
    "char *",
    "int8_t *",
    "uint8_t *",
    "int16_t *",
    "uint16_t *",
    "int32_t *",
    "uint32_t *",
    "int64_t *",
    "uint64_t *",
    "struct timespec",
    "TIMESPECFIXED",
];

/// The C compiler: `$CC`, else `cc`.
pub fn compiler() -> String {
    std::env::var("CC").unwrap_or_else(|_| "cc".into())
}

impl CProbe<'_> {
    /// Compiles and runs the probe.
    pub fn measure(&self) -> Result<Measurement, String> {
        let include = self.include;
        if !include.join("ImageStruct.h").is_file() {
            return Err(format!("no ImageStruct.h in {}", include.display()));
        }
        std::fs::create_dir_all(&self.work).map_err(|e| format!("{}: {e}", self.work.display()))?;
        let names = self.usable_type_names()?;
        let source = self.source(&names);
        let file = self.work.join("probe.c");
        let exe = self.work.join("probe");
        let rejected =
            compile_dropping_rejected(&source, &file, "probe.c:", || self.cc(&file, Some(&exe)))?;
        let out = Command::new(&exe)
            .output()
            .map_err(|e| format!("cannot run {}: {e}", exe.display()))?;
        if !out.status.success() {
            return Err(format!("{} failed ({})", exe.display(), out.status));
        }
        let mut defines = String::new();
        for d in self.defines {
            defines.push_str(&format!(" -D{d}"));
        }
        let mut m = Measurement {
            side: self.side.to_string(),
            source: format!("{} -I {}{defines}", compiler(), include.display()),
            covers: self
                .manifest
                .structs
                .iter()
                .map(|s| s.name.clone())
                .collect(),
            covers_types: true,
            covers_functions: true,
            rejected,
            ..Measurement::default()
        };
        m.read_output(&String::from_utf8_lossy(&out.stdout))?;
        Ok(m)
    }

    /// `cc` on `file` with this probe's include directory and macros (compile only without
    /// `exe`).
    fn cc(&self, file: &Path, exe: Option<&Path>) -> Command {
        let mut c = Command::new(compiler());
        c.args(["-std=gnu11", "-O0", "-w", "-I"]).arg(self.include);
        if let Some(dir) = self.variant_include {
            c.arg("-I").arg(dir);
        }
        c.args(self.defines.iter().map(|d| format!("-D{d}")))
            .arg(file)
            .env("LC_ALL", "C");
        match exe {
            Some(exe) => c.arg("-o").arg(exe),
            None => c.args(["-c", "-o", "/dev/null"]),
        };
        c
    }

    /// The candidate type names this header defines (a name it lacks would break every line
    /// that tries it).
    fn usable_type_names(&self) -> Result<Vec<String>, String> {
        let mut names: Vec<String> = TYPE_NAMES.iter().map(|s| s.to_string()).collect();
        let declared = self.manifest.types.iter().map(|t| t.name.clone());
        let of_fields = self
            .manifest
            .structs
            .iter()
            .flat_map(|s| s.fields.iter().filter_map(|f| f.ctype.clone()));
        for n in declared.chain(of_fields) {
            if !names.contains(&n) {
                names.push(n);
            }
        }
        let source = ProbeSource {
            prologue: self.includes(),
            items: names
                .iter()
                .enumerate()
                .map(|(i, n)| {
                    (
                        n.clone(),
                        format!("typedef __typeof__({n}) abi_candidate_{i};"),
                    )
                })
                .collect(),
            epilogue: String::new(),
        };
        let file = self.work.join("type_names.c");
        let unusable =
            compile_dropping_rejected(&source, &file, "type_names.c:", || self.cc(&file, None))?;
        names.retain(|n| !unusable.contains_key(n));
        Ok(names)
    }

    fn includes(&self) -> String {
        format!(
            "/* Generated by `cargo xtask abi` from {}. */\n#include <stddef.h>\n#include <stdio.h>\n#include \"ImageStruct.h\"\n#include \"ImageStreamIO.h\"\n",
            self.manifest.path.display()
        )
    }

    fn source(&self, type_names: &[String]) -> ProbeSource {
        let mut prologue = self.includes();
        prologue.push_str("\n/* The first listed type compatible with T, to name a field's type in a mismatch. */\n");
        prologue.push_str("#define ABI_TYPE_NAME(T) ( \\\n");
        for n in type_names {
            prologue.push_str(&format!(
                "    __builtin_types_compatible_p(T, {n}) ? \"{n}\" : \\\n"
            ));
        }
        prologue.push_str("    \"an unlisted type\")\n\nint main(void)\n{\n");
        let m = self.manifest;
        let mut items = Vec::new();
        for t in &m.types {
            let n = &t.name;
            items.push((
                n.clone(),
                format!(
                    "    printf(\"type\\t%s\\t%zu\\t%zu\\n\", \"{n}\", sizeof({n}), _Alignof({n}));"
                ),
            ));
        }
        for s in &m.structs {
            let sn = &s.name;
            items.push((
                sn.clone(),
                format!(
                    "    printf(\"struct\\t%s\\t%zu\\t%zu\\n\", \"{sn}\", sizeof({sn}), _Alignof({sn}));"
                ),
            ));
            // shmim-private words are padding in C: nothing to name there.
            for f in s.fields.iter().filter(|f| !f.shmim_private) {
                let item = format!("{sn}.{}", f.path);
                let member = format!("((({sn} *)0)->{})", f.path);
                let offset = format!("offsetof({sn}, {})", f.path);
                let line = match &f.ctype {
                    Some(t) => format!(
                        "    printf(\"field\\t%s\\t%zu\\t%zu\\t%d\\t%s\\n\", \"{item}\", {offset}, sizeof {member}, __builtin_types_compatible_p(__typeof__ {member}, {t}), ABI_TYPE_NAME(__typeof__ {member}));"
                    ),
                    None => format!(
                        "    printf(\"field\\t%s\\t%zu\\t%zu\\t-\\t-\\n\", \"{item}\", {offset}, sizeof {member});"
                    ),
                };
                items.push((item, line));
            }
        }
        for f in &m.functions {
            let (name, proto) = (&f.name, &f.prototype);
            items.push((
                name.clone(),
                format!(
                    "    printf(\"function\\t%s\\t%d\\n\", \"{name}\", __builtin_types_compatible_p(__typeof__({name}), {proto}));"
                ),
            ));
        }
        ProbeSource {
            prologue,
            items,
            epilogue: "    return 0;\n}\n".into(),
        }
    }
}
