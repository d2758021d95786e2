//! What a new stream looks like: the builder passed to [`crate::Stream::create`].

use std::path::{Path, PathBuf};

use shmim_layout::{
    Datatype, IMAGE_NB_PROCTRACE, IMAGE_NB_SEMAPHORE, ImageType, LOCATION_CPU, RegionSpec,
};

/// Shape, type and options of a stream to create.
///
/// Defaults are those of the legacy `ImageStreamIO_createIm`: 10 semaphores, no keywords, no
/// circular buffer, imagetype `MATH_DATA`, pixels in the file (CPU). The file mode defaults to
/// `0666` filtered by the process umask (the umask itself is never changed); [`Self::mode`] sets
/// an exact mode instead.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamSpec {
    pub(crate) shape: Vec<u32>,
    pub(crate) datatype: Datatype,
    pub(crate) nb_kw: u16,
    pub(crate) nb_sem: u16,
    pub(crate) nb_proctrace: u16,
    pub(crate) cb_size: u32,
    pub(crate) imagetype: u64,
    pub(crate) location: i8,
    pub(crate) mode: Option<u32>,
    pub(crate) dir: Option<PathBuf>,
    pub(crate) prefault: bool,
    pub(crate) replace: bool,
}

impl StreamSpec {
    /// A stream of `shape` (1 to 3 axes) and `datatype`.
    pub fn new(shape: &[u32], datatype: Datatype) -> Self {
        Self {
            shape: shape.to_vec(),
            datatype,
            nb_kw: 0,
            nb_sem: IMAGE_NB_SEMAPHORE,
            nb_proctrace: IMAGE_NB_PROCTRACE,
            cb_size: 0,
            imagetype: ImageType::MATH_DATA,
            location: LOCATION_CPU,
            mode: None,
            dir: None,
            prefault: false,
            replace: true,
        }
    }

    /// Number of keyword entries.
    pub fn keywords(mut self, n: u16) -> Self {
        self.nb_kw = n;
        self
    }

    /// Number of semaphores, i.e. of registered readers the stream can wake.
    pub fn semaphores(mut self, n: u16) -> Self {
        self.nb_sem = n;
        self
    }

    /// Number of proc-trace entries (legacy streams always have 10).
    pub fn proc_trace(mut self, n: u16) -> Self {
        self.nb_proctrace = n;
        self
    }

    /// Number of circular-buffer frames (each commit copies the frame into the next one).
    pub fn circular_buffer(mut self, n: u32) -> Self {
        self.cb_size = n;
        self
    }

    /// Image type bits ([`ImageType`] constants).
    pub fn imagetype(mut self, bits: u64) -> Self {
        self.imagetype = bits;
        self
    }

    /// GPU device whose memory holds the pixels (the file then holds none).
    pub fn gpu(mut self, device: i8) -> Self {
        self.location = device;
        self
    }

    /// Exact file mode (applied with `fchmod`, so the umask does not filter it).
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = Some(mode);
        self
    }

    /// Directory to create the stream in (default: [`crate::default_dir`]).
    pub fn dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.dir = Some(dir.as_ref().to_path_buf());
        self
    }

    /// Prefault the mapping at creation (`MAP_POPULATE`), so the first frames take no page faults.
    pub fn prefault(mut self, yes: bool) -> Self {
        self.prefault = yes;
        self
    }

    /// Whether an existing stream of that name is replaced (the default, as the legacy library
    /// does) or the create fails with [`crate::Error::Occupied`]. Without replacing, the new
    /// file is renamed into place with `RENAME_NOREPLACE`, so of creators racing for one name
    /// exactly one succeeds (a check before an ordinary rename would let them all "succeed",
    /// each replacing the last).
    pub fn replace(mut self, yes: bool) -> Self {
        self.replace = yes;
        self
    }

    /// The layout inputs.
    pub(crate) fn region_spec(&self) -> RegionSpec {
        let mut r = RegionSpec::new(&self.shape, self.datatype)
            .with_keywords(self.nb_kw)
            .with_semaphores(self.nb_sem)
            .with_imagetype(self.imagetype)
            .with_circular_buffer(self.cb_size);
        r.nb_proctrace = self.nb_proctrace;
        r.location = self.location;
        r
    }
}
