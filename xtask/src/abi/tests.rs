//! The ABI check checked: the manifests read, shmim's headers pass, and deliberately broken
//! copies of them are reported precisely (the field that moved, with the fields after it as its
//! consequences; a changed type; a missing field; a changed prototype; a missing export).
//!
//! These tests need `cc` and `nm`, like the `abi` step itself. They compile C probes only; the
//! Rust probe (a nested cargo build) is exercised by `cargo xtask abi`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::c_probe::{CProbe, compiler};
use super::compare::{Kind, Mismatch, compare, compare_symbols};
use super::manifest::Manifest;
use super::{VARIANTS, manifest_path, report};
use crate::header::capi_dir;
use crate::install::install_tree::VARIANT_HEADER;

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("xtask-abi-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn default_manifest() -> Manifest {
    Manifest::load(&manifest_path("default")).unwrap()
}

/// A copy of shmim's public headers in `scratch/include`, with `edit` applied to the text of
/// (`ImageStruct.h`, `ImageStreamIO.h`).
fn edited_headers(scratch: &Scratch, edit: impl FnOnce(&mut String, &mut String)) -> PathBuf {
    let include = scratch.0.join("include");
    std::fs::create_dir_all(&include).unwrap();
    for entry in std::fs::read_dir(capi_dir().join("include")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), include.join(entry.file_name())).unwrap();
    }
    // The record an install writes next to them (default layout).
    let record = crate::install::Variant::default()
        .header(&capi_dir())
        .unwrap();
    std::fs::write(include.join(VARIANT_HEADER), record).unwrap();
    let read = |f: &str| std::fs::read_to_string(include.join(f)).unwrap();
    let (mut structs, mut functions) = (read("ImageStruct.h"), read("ImageStreamIO.h"));
    edit(&mut structs, &mut functions);
    std::fs::write(include.join("ImageStruct.h"), structs).unwrap();
    std::fs::write(include.join("ImageStreamIO.h"), functions).unwrap();
    include
}

/// Replaces the first `old` inside the typedef of `name` (`typedef … { … } name;`).
fn edit_struct(header: &mut String, name: &str, old: &str, new: &str) {
    let end = header
        .find(&format!("}} {name};"))
        .unwrap_or_else(|| panic!("no typedef of {name} in ImageStruct.h"));
    let start = header[..end].rfind("typedef").unwrap();
    let at = start
        + header[start..end]
            .find(old)
            .unwrap_or_else(|| panic!("no `{old}` in {name}"));
    header.replace_range(at..at + old.len(), new);
}

/// The mismatches of a C probe of `include` (as the legacy side) against `manifest`.
fn probe(manifest: &Manifest, include: &Path, scratch: &Scratch) -> Vec<Mismatch> {
    let m = CProbe {
        side: "c:legacy",
        manifest,
        include,
        variant_include: None,
        defines: &manifest.c_defines,
        work: scratch.0.join("work"),
    }
    .measure()
    .unwrap();
    compare(manifest, &m)
}

fn causes(mismatches: &[Mismatch]) -> Vec<(&str, Kind)> {
    mismatches
        .iter()
        .filter(|m| m.consequence_of.is_none())
        .map(|m| (m.item.as_str(), m.kind))
        .collect()
}

#[test]
fn manifests_read_and_carry_format_md_sizes() {
    let sizes = [
        ("default", 384, 248),
        ("writehistory", 400, 256),
        ("dao-compat", 4496, 248),
    ];
    for (variant, metadata, image) in sizes {
        let m = Manifest::load(&manifest_path(variant)).unwrap();
        assert_eq!(m.variant, variant);
        assert_eq!(m.find_struct("IMAGE_METADATA").unwrap().size, metadata);
        assert_eq!(m.find_struct("IMAGE").unwrap().size, image);
        assert_eq!(m.functions.len(), 40, "{variant}: c-api.md's 40 functions");
    }
    assert_eq!(VARIANTS.len(), 3);
}

#[test]
fn manifest_errors_name_the_line() {
    let text = "[abi]\nvariant = \"default\"\n[struct.S]\nsizeof = 8\nalignof = 8\nx = { offset = 0, size = }\n";
    let e = Manifest::parse(Path::new("t.toml"), text).unwrap_err();
    assert!(e.starts_with("line 6: "), "{e}");
    let text = "[abi]\nvariant = \"default\"\n[struct.S]\nsizeof = 8\nalignof = 8\nx = { offset = 4, size = 8 }\n";
    let e = Manifest::parse(Path::new("t.toml"), text).unwrap_err();
    assert_eq!(e, "S.x ends past sizeof 8");
}

#[test]
fn shmim_private_words_are_listed_in_every_variant_and_may_not_overlap_a_c_field() {
    for variant in VARIANTS {
        let m = Manifest::load(&manifest_path(variant)).unwrap();
        let private: Vec<(&str, u64, u64)> = m
            .find_struct("IMAGE_METADATA")
            .unwrap()
            .fields
            .iter()
            .filter(|f| f.shmim_private)
            .map(|f| (f.path.as_str(), f.offset, f.size))
            .collect();
        assert_eq!(
            private,
            [("claim_pid", 228, 4), ("claim_ticket", 244, 4)],
            "{variant}"
        );
    }
    let text = "[abi]\nvariant = \"default\"\n[struct.S]\nsizeof = 8\nalignof = 8\n\
                a = { offset = 0, size = 4, type = \"int\" }\n\
                p = { offset = 2, size = 4, padding = \"shmim-private\" }\n";
    let e = Manifest::parse(Path::new("t.toml"), text).unwrap_err();
    assert_eq!(e, "S.p overlaps the field before it");
    let text = "[abi]\nvariant = \"default\"\n[struct.S]\nsizeof = 8\nalignof = 8\n\
                p = { offset = 4, size = 4, padding = \"ours\" }\n";
    let e = Manifest::parse(Path::new("t.toml"), text).unwrap_err();
    assert!(e.contains("shmim-private"), "{e}");
}

#[test]
fn shmim_headers_match_the_manifest() {
    let scratch = Scratch::new("clean");
    let manifest = default_manifest();
    let include = edited_headers(&scratch, |_, _| {});
    assert_eq!(probe(&manifest, &include, &scratch), Vec::<Mismatch>::new());
}

/// Our headers with one 8-byte field planted before `IMAGE_METADATA.cnt0`.
fn padded_before_cnt0(scratch: &Scratch) -> PathBuf {
    edited_headers(scratch, |s, _| {
        edit_struct(
            s,
            "IMAGE_METADATA",
            "uint64_t cnt0;",
            "uint64_t planted_pad; uint64_t cnt0;",
        )
    })
}

#[test]
fn padding_before_cnt0_is_reported_as_cnt0_with_the_later_fields_as_consequences() {
    let scratch = Scratch::new("pad");
    let include = padded_before_cnt0(&scratch);
    let manifest = default_manifest();
    let found = probe(&manifest, &include, &scratch);
    assert_eq!(causes(&found), [("IMAGE_METADATA.cnt0", Kind::Layout)]);
    let cause = &found[0];
    assert_eq!(
        (cause.expected.as_str(), cause.found.as_str()),
        ("@264 size 8", "@272 size 8")
    );
    assert_eq!(cause.moved, Some(8));
    let later: BTreeSet<&str> = [
        "cnt1",
        "cnt2",
        "write",
        "NBkw",
        "CBsize",
        "CBindex",
        "CBcycle",
        "imdatamemsize",
        "cudaMemHandle",
    ]
    .into_iter()
    .collect();
    for m in &found[1..] {
        assert_eq!(
            m.consequence_of.as_deref(),
            Some("IMAGE_METADATA.cnt0"),
            "{m:?}"
        );
        match m.item.strip_prefix("IMAGE_METADATA.") {
            Some(field) => {
                assert!(later.contains(field), "{m:?}");
                assert_eq!(m.moved, Some(8));
            }
            None => assert_eq!(
                (m.item.as_str(), m.found.as_str()),
                ("IMAGE_METADATA", "sizeof 392 alignof 8")
            ),
        }
    }
    assert_eq!(found.len(), 1 + later.len() + 1);
}

#[test]
fn changed_field_type_is_reported_as_that_field_alone() {
    let scratch = Scratch::new("type");
    let include = edited_headers(&scratch, |s, _| {
        edit_struct(
            s,
            "IMAGE_METADATA",
            "struct timespec atime;",
            "TIMESPECFIXED atime;",
        )
    });
    let found = probe(&default_manifest(), &include, &scratch);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        (
            found[0].item.as_str(),
            found[0].kind,
            found[0].found.as_str()
        ),
        ("IMAGE_METADATA.atime", Kind::Type, "TIMESPECFIXED")
    );
}

#[test]
fn removed_field_is_reported_missing_with_the_compiler_message() {
    let scratch = Scratch::new("missing");
    let include = edited_headers(&scratch, |s, _| {
        edit_struct(s, "STREAM_PROC_TRACE", "int triggerstatus;", "")
    });
    let found = probe(&default_manifest(), &include, &scratch);
    let first = &found[0];
    assert_eq!(
        (first.item.as_str(), first.kind),
        ("STREAM_PROC_TRACE.triggerstatus", Kind::Missing)
    );
    assert!(first.found.contains("no member named"), "{}", first.found);
}

#[test]
fn changed_prototype_and_undeclared_function_are_reported() {
    let scratch = Scratch::new("proto");
    let include = edited_headers(&scratch, |_, f| {
        *f = f.replace(
            "long ImageStreamIO_semvalue(IMAGE *image, long index);",
            "int ImageStreamIO_semvalue(IMAGE *image, long index);",
        );
        *f = f.replace(
            "errno_t ImageStreamIO_check_image_endpoint_inode(IMAGE *image);",
            "",
        );
    });
    let found = probe(&default_manifest(), &include, &scratch);
    assert_eq!(
        causes(&found),
        [
            ("ImageStreamIO_check_image_endpoint_inode", Kind::Missing),
            ("ImageStreamIO_semvalue", Kind::Prototype),
        ]
    );
}

#[test]
fn unexported_and_unlisted_symbols_are_reported() {
    let scratch = Scratch::new("symbols");
    let manifest = default_manifest();
    let mut stubs = String::from("void shmim_unlisted(void) {}\n");
    for f in manifest
        .functions
        .iter()
        .filter(|f| f.name != "ImageStreamIO_semwait")
    {
        stubs.push_str(&format!("void {}(void) {{}}\n", f.name));
    }
    let src = scratch.0.join("stubs.c");
    let lib = scratch.0.join("libstubs.so");
    std::fs::write(&src, stubs).unwrap();
    let status = Command::new(compiler())
        .args(["-shared", "-fPIC", "-o"])
        .arg(&lib)
        .arg(&src)
        .status()
        .unwrap();
    assert!(status.success());
    let exported = super::symbols::exported(&lib).unwrap();
    let found = compare_symbols(&manifest, &exported);
    let items: Vec<(&str, &str)> = found
        .iter()
        .map(|m| (m.item.as_str(), m.found.as_str()))
        .collect();
    assert_eq!(
        items,
        [
            ("ImageStreamIO_semwait", "not exported"),
            ("shmim_unlisted", "exported")
        ]
    );
}

#[test]
fn report_shows_the_cause_and_summarises_its_consequences() {
    let scratch = Scratch::new("report");
    let include = padded_before_cnt0(&scratch);
    let manifest = default_manifest();
    let m = CProbe {
        side: "c:legacy",
        manifest: &manifest,
        include: &include,
        variant_include: None,
        defines: &[],
        work: scratch.0.join("work"),
    }
    .measure()
    .unwrap();
    let mut check = super::Check::new(manifest);
    check.add(m);
    let text = report::text(&check, false);
    let cause = text
        .lines()
        .find(|l| l.trim_start().starts_with("IMAGE_METADATA.cnt0"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        cause.contains("@264 size 8")
            && cause.contains("@272 size 8")
            && cause.ends_with("moved +8")
    );
    assert!(text.contains("and with it: cnt1, cnt2,"), "{text}");
    assert!(text.contains("sizeof 384 -> 392"), "{text}");
    let json = report::json(&check);
    assert!(json.contains("\"consequence_of\": \"IMAGE_METADATA.cnt0\""));
}
