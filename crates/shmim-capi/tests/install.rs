//! The installed library: what it exports, what it installs, and that legacy programs build
//! against it unchanged with nothing but pkg-config.

mod common;

use std::collections::BTreeSet;
use std::process::Command;

use common::{StreamDir, checked, pkg_config, run, toolchain};

/// c-api.md's functions: the exact dynamic symbol table of the library (no additions).
const C_API: &[&str] = &[
    "init_ImageStreamIO",
    "ImageStreamIO_set_default_printError",
    "ImageStreamIO_set_printError",
    "ImageStreamIO_filename",
    "ImageStreamIO_typesize",
    "ImageStreamIO_typename",
    "ImageStreamIO_typename_short",
    "ImageStreamIO_typename_7",
    "ImageStreamIO_checktype",
    "ImageStreamIO_floattype",
    "ImageStreamIO_FITSIObitpix",
    "ImageStreamIO_FITSIOdatatype",
    "ImageStreamIO_createIm",
    "ImageStreamIO_createIm_gpu",
    "ImageStreamIO_openIm",
    "ImageStreamIO_read_sharedmem_image_toIMAGE",
    "ImageStreamIO_closeIm",
    "ImageStreamIO_destroyIm",
    "ImageStreamIO_get_image_d_ptr",
    "ImageStreamIO_check_image_inode",
    "ImageStreamIO_check_image_endpoint_inode",
    "ImageStreamIO_autorelink_if_need_if_can",
    "ImageStreamIO_new_image_compatible",
    "ImageStreamIO_readBufferAt",
    "ImageStreamIO_nbSlices",
    "ImageStreamIO_writeIndex",
    "ImageStreamIO_readLastWroteIndex",
    "ImageStreamIO_writeBuffer",
    "ImageStreamIO_readLastWroteBuffer",
    "ImageStreamIO_sempost",
    "ImageStreamIO_sempost_excl",
    "ImageStreamIO_sempost_loop",
    "ImageStreamIO_getsemwaitindex",
    "ImageStreamIO_semwait",
    "ImageStreamIO_semtrywait",
    "ImageStreamIO_semtimedwait",
    "ImageStreamIO_semflush",
    "ImageStreamIO_semvalue",
    "ImageStreamIO_UpdateIm",
    "ImageStreamIO_UpdateIm_atime",
];

/// What `include/ImageStreamIO/` holds: the public headers and the variant record.
const INSTALLED_HEADERS: &[&str] = &[
    "ImageStreamIO.h",
    "ImageStreamIOError.h",
    "ImageStreamIO_atomic.h",
    "ImageStreamIO_lock.h",
    "ImageStreamIO_variant.h",
    "ImageStruct.h",
];

#[test]
fn exported_dynamic_symbols_are_exactly_the_c_api() {
    let lib = toolchain().prefix.join("lib/libImageStreamIO.so");
    let out = checked(Command::new("nm").args(["-D", "--defined-only"]).arg(&lib));
    let exported: BTreeSet<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2).map(String::from))
        .collect();
    let expected: BTreeSet<String> = C_API.iter().map(|s| s.to_string()).collect();
    let extra: Vec<_> = exported.difference(&expected).collect();
    let missing: Vec<_> = expected.difference(&exported).collect();
    assert!(
        extra.is_empty() && missing.is_empty(),
        "extra {extra:?}, missing {missing:?}"
    );
}

#[test]
fn install_has_the_soname_links_public_headers_and_pkg_config() {
    let t = toolchain();
    let lib = t.prefix.join("lib");
    let version = env!("CARGO_PKG_VERSION");
    let soname = format!("libImageStreamIO.so.{}", env!("CARGO_PKG_VERSION_MAJOR"));
    assert_eq!(
        std::fs::read_link(lib.join("libImageStreamIO.so")).unwrap(),
        std::path::Path::new(&soname)
    );
    assert_eq!(
        std::fs::read_link(lib.join(&soname)).unwrap(),
        std::path::Path::new(&format!("libImageStreamIO.so.{version}"))
    );
    assert!(lib.join("libImageStreamIO.a").is_file());
    let dynamic = checked(Command::new("readelf").arg("-d").arg(lib.join(&soname)));
    assert!(
        String::from_utf8_lossy(&dynamic.stdout).contains(&format!("Library soname: [{soname}]"))
    );

    let include = t.prefix.join("include");
    let entries = |dir: &std::path::Path| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    assert_eq!(entries(&include), ["ImageStreamIO"]);
    assert_eq!(entries(&include.join("ImageStreamIO")), INSTALLED_HEADERS);
    for h in INSTALLED_HEADERS {
        let text = std::fs::read_to_string(include.join("ImageStreamIO").join(h)).unwrap();
        assert!(
            !text.contains("ImageStreamIO_config"),
            "{h} includes the private header"
        );
        assert!(!text.contains("#undef"), "{h} undefines a macro");
    }
    let private =
        std::fs::read_to_string(format!("{}/ImageStreamIO_config.h", common::config_dir()))
            .unwrap();
    assert!(private.contains(&format!("\"{soname}\"")) && !private.contains("#undef"));

    let modversion = pkg_config(&t.prefix, &["--modversion"]);
    assert_eq!(String::from_utf8_lossy(&modversion.stdout).trim(), version);
    assert!(t.libs.iter().any(|l| l == "-lImageStreamIO"));
    // Both include styles: <ImageStreamIO/ImageStreamIO.h> and "ImageStreamIO.h".
    let includes: Vec<String> = t
        .cflags
        .iter()
        .filter(|f| f.starts_with("-I"))
        .cloned()
        .collect();
    assert_eq!(
        includes,
        [
            format!("-I{}", include.display()),
            format!("-I{}", include.join("ImageStreamIO").display())
        ]
    );
    assert_eq!(
        entries(&t.prefix.join("lib/cmake/ImageStreamIO")),
        [
            "ImageStreamIOConfig.cmake",
            "ImageStreamIOConfigVersion.cmake"
        ]
    );
}

#[test]
fn static_library_exports_only_the_c_api() {
    // One relocatable object: every symbol but the C API's is local, so a program that also
    // links another Rust static library gets no duplicate standard library.
    let lib = toolchain().prefix.join("lib/libImageStreamIO.a");
    let out = checked(Command::new("nm").args(["-g", "--defined-only"]).arg(&lib));
    let global: BTreeSet<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2).map(String::from))
        .collect();
    let expected: BTreeSet<String> = C_API.iter().map(|s| s.to_string()).collect();
    assert_eq!(global, expected);
}

#[test]
fn both_include_styles_compile() {
    let t = toolchain();
    let dir = StreamDir::new("include-styles");
    for style in ["-DANGLE_INCLUDE", "-DQUOTE_INCLUDE"] {
        let exe = t.build_with(
            "cc",
            "include_style.c",
            &[style, "-Wall", "-Wextra", "-Werror"],
            &[],
            true,
        );
        run(&exe, &[], &dir);
    }
}

#[test]
fn a_program_built_for_another_layout_variant_does_not_compile() {
    // The installed ImageStreamIO_variant.h records the library's switches; ImageStruct.h refuses
    // a program whose switches differ, before it could run with a mismatched IMAGE.
    let t = toolchain();
    let own = common::variant();
    for (define, on) in [
        ("IMAGESTRUCT_WRITEHISTORY", own.writehistory),
        ("DAO_COMPAT", own.dao_compat),
    ] {
        let mut cmd = Command::new("cc");
        cmd.args(["-fsyntax-only", "-xc", "-"]);
        cmd.args(&t.cflags);
        if on {
            // The library has it: a program without it is refused.
            cmd.arg(format!("-U{define}"));
        } else {
            cmd.arg(format!("-D{define}"));
        }
        let out = cmd
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                use std::io::Write;
                c.stdin.take().unwrap().write_all(
                    b"#include <ImageStreamIO/ImageStreamIO.h>\nint main(void) { return 0; }\n",
                )?;
                c.wait_with_output()
            })
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && stderr.contains("#error") && stderr.contains(define),
            "{define}: {stderr}"
        );
    }
}

#[test]
fn legacy_program_builds_unchanged_with_pkg_config_flags_only() {
    let t = toolchain();
    let dir = StreamDir::new("legacy");
    // Default language level, then C99 at -O0 (inline helpers need no symbol), with every
    // warning an error: the headers must be clean.
    for flags in [
        &["-Wall", "-Wextra", "-Werror"][..],
        &["-std=gnu99", "-O0", "-Wall", "-Werror"],
    ] {
        let exe = t.build_with("cc", "legacy_style.c", flags, &[], true);
        let out = run(&exe, &[], &dir);
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "legacy FLT32 4 2.00\n"
        );
    }
}

#[test]
fn legacy_program_runs_clean_under_valgrind() {
    // C developers run their programs under valgrind: the library must neither crash there
    // (rustix's own vDSO parser cannot read valgrind's, hence its glibc backend here) nor
    // produce memory errors or definite leaks.
    common::require("valgrind");
    let t = toolchain();
    let dir = StreamDir::new("valgrind");
    let exe = t.build_with("cc", "legacy_style.c", &["-O0", "-g"], &[], true);
    let out = checked(
        Command::new("valgrind")
            .args(["-q", "--error-exitcode=99", "--leak-check=full"])
            .args(["--errors-for-leak-kinds=definite"])
            .arg(&exe)
            .env("MILK_SHM_DIR", dir.path()),
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "legacy FLT32 4 2.00\n"
    );
}

#[test]
fn headers_work_from_cpp() {
    let t = toolchain();
    let dir = StreamDir::new("cxx");
    let exe = t.build_with(
        "c++",
        "header_cxx.cpp",
        &["-std=c++17", "-Wall", "-Wextra", "-Werror"],
        &[],
        true,
    );
    run(&exe, &[], &dir);
    let exe = t.build_with(
        "c++",
        "legacy_style.c",
        &["-x", "c++", "-Wall", "-Werror"],
        &[],
        true,
    );
    run(&exe, &[], &dir);
}

#[test]
fn static_library_links_a_legacy_program() {
    let t = toolchain();
    let dir = StreamDir::new("static");
    // The archive itself, then what `pkg-config --static` says it needs; no -L/-l for the
    // shared library and no rpath: the program runs only if it is linked statically.
    let private = pkg_config(&t.prefix, &["--static", "--libs-only-l"]);
    let archive = t
        .prefix
        .join("lib/libImageStreamIO.a")
        .display()
        .to_string();
    let mut after = vec![archive.as_str()];
    let private = String::from_utf8_lossy(&private.stdout).into_owned();
    after.extend(
        private
            .split_whitespace()
            .filter(|l| *l != "-lImageStreamIO"),
    );
    let include = format!("-I{}", t.prefix.join("include/ImageStreamIO").display());
    let exe = t.build_with("cc", "legacy_style.c", &["-O0", &include], &after, false);
    assert!(
        !String::from_utf8_lossy(&checked(Command::new("readelf").arg("-d").arg(&exe)).stdout)
            .contains("libImageStreamIO")
    );
    run(&exe, &[], &dir);
}
