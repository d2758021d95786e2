//! The cost of a C API call, shmim's libImageStreamIO against the legacy library in the same run.
//!
//! ```text
//! cargo xtask bench capi -- --legacy-lib /path/to/legacy/libImageStreamIO.so
//! bench_update --lib PATH [--legacy-lib PATH] [--batches N] [--calls N]
//! ```
//!
//! Both shared libraries are `dlopen`ed (`RTLD_LOCAL`: each keeps its own symbols) into this
//! process and called through the same function-pointer path, on streams of the same shape in one
//! private tmpfs directory: 64×64 float, 10 semaphores, no circular buffer, no reader (the
//! semaphores saturate at `SEMAPHORE_MAXVAL`, as on a stream nobody reads). Batches of calls
//! alternate between the libraries so that both see the same machine state; the table gives the
//! median time per call of each and their ratio. `SHMIM_LEGACY_LIB` works as `--legacy-lib`.
//! A benchmark, not a test: nothing fails on a slow figure.

use std::ffi::{CString, c_char, c_int, c_long, c_void};
use std::path::PathBuf;
use std::time::Instant;

/// An `IMAGE` (248 bytes; room for the write-history variant's 256), opaque here.
#[repr(C, align(8))]
struct Image([u8; 256]);

type CreateIm = unsafe extern "C" fn(
    *mut Image,
    *const c_char,
    c_long,
    *mut u32,
    u8,
    c_int,
    c_int,
    c_int,
) -> c_int;
type Call = unsafe extern "C" fn(*mut Image) -> c_long;
type Post = unsafe extern "C" fn(*mut Image, c_long) -> c_long;
type Destroy = unsafe extern "C" fn(*mut Image) -> c_int;

/// One library, loaded, with a stream of its own.
struct Library {
    label: &'static str,
    image: Box<Image>,
    update: Call,
    post: Post,
    destroy: Destroy,
}

fn symbol<T>(handle: *mut c_void, name: &str) -> T {
    let c = CString::new(name).unwrap();
    // SAFETY: `handle` is a live dlopen handle; `c` a NUL-terminated name.
    let p = unsafe { libc::dlsym(handle, c.as_ptr()) };
    assert!(!p.is_null(), "{name} not found");
    assert_eq!(size_of::<T>(), size_of::<*mut c_void>());
    // SAFETY: `T` is the function-pointer type of `name`'s C prototype (declared above).
    unsafe { std::mem::transmute_copy(&p) }
}

impl Library {
    fn load(label: &'static str, path: &std::path::Path, stream: &str) -> Self {
        let c = CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: dlopen of a shared library path; RTLD_LOCAL keeps its symbols to itself.
        let handle = unsafe { libc::dlopen(c.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
        assert!(!handle.is_null(), "cannot dlopen {}", path.display());
        let create: CreateIm = symbol(handle, "ImageStreamIO_createIm");
        let mut image = Box::new(Image([0; 256]));
        let mut size = [64u32, 64];
        let name = CString::new(stream).unwrap();
        // SAFETY: the legacy prototype; `image` is a writable IMAGE, `size` holds 2 axes.
        let rc = unsafe { create(&mut *image, name.as_ptr(), 2, size.as_mut_ptr(), 9, 1, 0, 0) };
        assert_eq!(rc, 0, "{label}: createIm failed");
        Self {
            label,
            image,
            update: symbol(handle, "ImageStreamIO_UpdateIm"),
            post: symbol(handle, "ImageStreamIO_sempost"),
            destroy: symbol(handle, "ImageStreamIO_destroyIm"),
        }
    }

    /// Nanoseconds per call of `calls` calls of `case` on this library's stream.
    fn batch(&mut self, calls: u32, case: Case) -> f64 {
        let image: *mut Image = &mut *self.image;
        let (update, post) = (self.update, self.post);
        let t = Instant::now();
        for _ in 0..calls {
            // SAFETY: `image` is the stream this library created, open until `drop`.
            unsafe {
                match case {
                    Case::Update => update(image),
                    Case::PostAll => post(image, -1),
                }
            };
        }
        t.elapsed().as_nanos() as f64 / f64::from(calls)
    }
}

/// What is measured.
#[derive(Clone, Copy)]
enum Case {
    /// `ImageStreamIO_UpdateIm`.
    Update,
    /// `ImageStreamIO_sempost(im, -1)`.
    PostAll,
}

impl Drop for Library {
    fn drop(&mut self) {
        // SAFETY: the stream this library created.
        unsafe { (self.destroy)(&mut *self.image) };
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

struct Options {
    lib: PathBuf,
    legacy: Option<PathBuf>,
    batches: u32,
    calls: u32,
}

fn options() -> Options {
    let mut o = Options {
        lib: PathBuf::new(),
        legacy: std::env::var_os("SHMIM_LEGACY_LIB").map(PathBuf::from),
        batches: 200,
        calls: 5_000,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{a} needs a value"));
        match a.as_str() {
            "--lib" => o.lib = PathBuf::from(value()),
            "--legacy-lib" => o.legacy = Some(PathBuf::from(value())),
            "--batches" => o.batches = value().parse().expect("--batches N"),
            "--calls" => o.calls = value().parse().expect("--calls N"),
            other => panic!(
                "unknown option {other}; usage: bench_update --lib PATH [--legacy-lib PATH] [--batches N] [--calls N]"
            ),
        }
    }
    assert!(
        o.lib.is_file(),
        "--lib PATH: the libImageStreamIO.so to measure"
    );
    o
}

fn main() {
    let o = options();
    let dir =
        std::path::Path::new("/dev/shm").join(format!("shmim-bench-capi-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // SAFETY: single-threaded at this point; both libraries read it when they resolve paths.
    unsafe { std::env::set_var("MILK_SHM_DIR", &dir) };

    let mut libs = vec![Library::load("shmim", &o.lib, "bench_shmim")];
    match &o.legacy {
        Some(path) => libs.push(Library::load("legacy", path, "bench_legacy")),
        None => eprintln!(
            "no legacy library (--legacy-lib PATH or SHMIM_LEGACY_LIB): shmim figures only"
        ),
    }
    let cases = [
        (
            "UpdateIm, 10 semaphores, 64x64 float, no reader",
            Case::Update,
        ),
        ("sempost(-1), 10 semaphores", Case::PostAll),
    ];
    println!(
        "C API cost per call, median of {} batches of {} calls, batches alternating between libraries",
        o.batches, o.calls
    );
    for (what, case) in cases {
        let mut times: Vec<Vec<f64>> = vec![Vec::new(); libs.len()];
        for _ in 0..o.batches {
            for (k, lib) in libs.iter_mut().enumerate() {
                times[k].push(lib.batch(o.calls, case));
            }
        }
        let medians: Vec<f64> = times.into_iter().map(median).collect();
        let mut line = format!("{what}:");
        for (lib, ns) in libs.iter().zip(&medians) {
            line.push_str(&format!("  {} {ns:.0} ns", lib.label));
        }
        if medians.len() == 2 {
            line.push_str(&format!(
                "  -> shmim is {:.1}x faster",
                medians[1] / medians[0]
            ));
        }
        println!("{line}");
    }
    drop(libs);
    let _ = std::fs::remove_dir_all(&dir);
}
