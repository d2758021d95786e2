//! The stream handle.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use shmim_layout::{Datatype, FILE_SUFFIX, IMAGE_METADATA_SIZE, ImageMetadata};

use crate::consistent::{consistent_copy, wait_for_no_write};
use crate::error::{Error, Result};
use crate::mapping::{Mapping, md};
use crate::metadata::Metadata;
use crate::open::{OpenOptions, open_path};
use crate::pixel::Pixel;
use crate::spec::StreamSpec;
use crate::validate::Geometry;

/// Default bound of a consistent read facing a busy writer.
pub(crate) const DEFAULT_READ_TIMEOUT: Duration = Duration::from_millis(100);

/// An open ImageStreamIO stream.
///
/// Writing needs `&mut Stream` ([`Stream::write`]); readers ([`Stream::reader`]) are separate
/// values that keep the mapping alive and can move to other threads.
pub struct Stream {
    pub(crate) map: Arc<Mapping>,
    pub(crate) name: String,
    pub(crate) dir: Option<PathBuf>,
    /// This handle of a process-local image abandoned a write and still owns the flag
    /// (protocol.md rule 4). File-backed streams record abandons process-wide instead
    /// (`abandoned.rs`), so any handle of the process can resume them.
    pub(crate) owns_flag: bool,
    pub(crate) read_timeout: Duration,
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stream")
            .field("name", &self.name)
            .field("path", &self.path())
            .finish_non_exhaustive()
    }
}

impl Stream {
    fn from_mapping(map: Mapping, name: &str, dir: Option<PathBuf>) -> Self {
        Self {
            map: Arc::new(map),
            name: name.into(),
            dir,
            owns_flag: false,
            read_timeout: DEFAULT_READ_TIMEOUT,
        }
    }

    /// Creates the stream `name` (replacing an existing one atomically), in `spec`'s directory or
    /// the default one.
    pub fn create(name: &str, spec: &StreamSpec) -> Result<Self> {
        let dir = absolute(spec.dir.as_deref().unwrap_or_else(|| crate::default_dir()));
        let map = crate::create::create(name, spec, &dir, false)?;
        Ok(Self::from_mapping(map, name, Some(dir)))
    }

    /// Like [`Self::create`] with the legacy C API's file mode (0666, regardless of the umask,
    /// unless `spec` sets one).
    #[doc(hidden)]
    pub fn create_legacy_mode(name: &str, spec: &StreamSpec) -> Result<Self> {
        let dir = absolute(spec.dir.as_deref().unwrap_or_else(|| crate::default_dir()));
        let map = crate::create::create(name, spec, &dir, true)?;
        Ok(Self::from_mapping(map, name, Some(dir)))
    }

    /// A process-local image with the same layout and API but no file (legacy `shared = 0`).
    pub fn create_local(name: &str, spec: &StreamSpec) -> Result<Self> {
        let name = crate::name::validate_name(name)?;
        let regions = spec.region_spec().regions()?;
        let map = Mapping::heap(crate::create::provisional_geometry(name, spec, regions)?);
        crate::init::initialise(&map, name, spec, false, 0)?;
        Ok(Self::from_mapping(map, name, None))
    }

    /// Opens `name` in the default stream directory.
    pub fn open(name: &str) -> Result<Self> {
        Self::open_in(crate::default_dir(), name)
    }

    /// Opens `name` in `dir`.
    pub fn open_in(dir: impl AsRef<Path>, name: &str) -> Result<Self> {
        Self::open_with(dir, name, &OpenOptions::default())
    }

    /// Opens `name` in `dir` with options.
    pub fn open_with(dir: impl AsRef<Path>, name: &str, opts: &OpenOptions) -> Result<Self> {
        let name = crate::name::validate_name(name)?;
        let dir = absolute(dir.as_ref());
        let path = dir.join(format!("{name}{FILE_SUFFIX}"));
        let map = open_path(&path, Some(&dir), opts)?;
        Ok(Self::from_mapping(map, name, Some(dir)))
    }

    /// Opens the stream file at `path` (symlinks must stay in its directory).
    pub fn open_path(path: impl AsRef<Path>) -> Result<Self> {
        let path = &absolute(path.as_ref());
        let map = open_path(path, None, &OpenOptions::default())?;
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let name = file_name
            .strip_suffix(FILE_SUFFIX)
            .unwrap_or(&file_name)
            .to_owned();
        Ok(Self::from_mapping(
            map,
            &name,
            path.parent().map(Path::to_path_buf),
        ))
    }

    /// The name the stream was opened by (a symlink's own name; `metadata().name` is the target's).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The file, or `None` for a process-local image.
    pub fn path(&self) -> Option<&Path> {
        self.map.file().map(|(_, p, _)| p)
    }

    /// The geometry validated at open (fixed for the life of the handle).
    pub fn geometry(&self) -> &Geometry {
        self.map.geometry()
    }

    /// Pixel type.
    pub fn datatype(&self) -> Datatype {
        self.geometry().datatype
    }

    /// Used axis lengths.
    pub fn shape(&self) -> &[u32] {
        self.geometry().shape()
    }

    /// Elements per frame.
    pub fn nelement(&self) -> u64 {
        self.geometry().nelement()
    }

    /// Whether the stream lives in a file (`shared = 1`).
    pub fn is_shared(&self) -> bool {
        self.map.is_file()
    }

    /// The frame counter now (the number of the last published frame).
    pub fn cnt0(&self) -> u64 {
        md!(self.map, cnt0).observe()
    }

    /// Whether a writer holds the write flag now.
    pub fn is_writing(&self) -> bool {
        md!(self.map, write).peek() != 0
    }

    /// The shmim writer that claims the write flag now (the claim PID), if the flag is set and
    /// claimed. `None` while the flag is clear, or held by a legacy writer (which claims nothing).
    pub fn flag_claim(&self) -> Option<i32> {
        let claim = md!(self.map, claim_pid).peek();
        (self.is_writing() && claim > 0).then_some(claim)
    }

    /// The writer as tools show it: the claim PID while a shmim writer holds the flag, else the
    /// process that published last (`semWritePID`).
    pub fn writer_pid(&self) -> Option<i32> {
        self.flag_claim().or_else(|| self.last_writer())
    }

    /// The registered readers now: `(slot, PID)` for every `semReadPID` entry holding a PID.
    pub fn registered_readers(&self) -> Vec<(u16, i32)> {
        (0..self.geometry().nb_sem)
            .filter_map(|i| self.map.sem_read_pid(i).ok().map(|pid| (i, pid.peek())))
            .filter(|&(_, pid)| pid > 0)
            .collect()
    }

    /// The value of every semaphore now (posts its reader has not taken yet), for tools.
    pub fn semaphore_values(&self) -> Vec<u32> {
        (0..self.geometry().nb_sem)
            .map(|i| self.map.sem(i).map_or(0, |s| s.value()))
            .collect()
    }

    /// The process that published the last frame (recorded in `semWritePID` when it posted),
    /// if any semaphore records one.
    pub fn last_writer(&self) -> Option<i32> {
        (0..self.geometry().nb_sem)
            .filter_map(|i| self.map.sem_write_pid(i).ok().map(|pid| pid.peek()))
            .find(|&pid| pid > 0)
    }

    /// `semWritePID` of every semaphore: the process that posted it last (0 or -1: none yet).
    pub fn semaphore_writers(&self) -> Vec<i32> {
        (0..self.geometry().nb_sem)
            .map(|i| self.map.sem_write_pid(i).map_or(0, |pid| pid.peek()))
            .collect()
    }

    /// Bound of consistent reads facing a busy writer (default 100 ms).
    pub fn set_read_timeout(&mut self, timeout: Duration) {
        self.read_timeout = timeout;
    }

    /// The metadata, copied consistently (no writer mid-frame).
    pub fn metadata(&self) -> Result<Metadata> {
        let mut header = [0u8; IMAGE_METADATA_SIZE];
        consistent_copy(&self.map, self.read_timeout, || {
            self.map.copy_out(0, &mut header)
        })?;
        Ok(Metadata::from(
            &bytemuck::pod_read_unaligned::<ImageMetadata>(&header),
        ))
    }

    /// The metadata as it is now, even mid-frame or with a stuck writer (for tools).
    pub fn metadata_snapshot(&self) -> Metadata {
        let mut header = [0u8; IMAGE_METADATA_SIZE];
        self.map.copy_out(0, &mut header);
        Metadata::from(&bytemuck::pod_read_unaligned::<ImageMetadata>(&header))
    }

    /// Copies the current frame into `buf` consistently; returns its frame number (`cnt0`).
    pub fn read_into<T: Pixel>(&self, buf: &mut [T]) -> Result<u64> {
        self.check_frame_buffer::<T>(buf.len())?;
        self.read_bytes_into(bytemuck::cast_slice_mut(buf))
    }

    /// Copies the current frame's bytes into `buf` (exactly one frame long) consistently.
    pub fn read_bytes_into(&self, buf: &mut [u8]) -> Result<u64> {
        self.check_cpu()?;
        self.geometry().check_frame_bytes(buf.len())?;
        let offset = self.geometry().regions.data.offset as usize;
        consistent_copy(&self.map, self.read_timeout, || {
            self.map.copy_out(offset, buf)
        })
    }

    /// Waits until no writer holds the flag; `WriterStuck`/`WriterDied` otherwise.
    pub fn busy_wait_for_no_write(&self, timeout: Duration) -> Result<()> {
        wait_for_no_write(&self.map, timeout)
    }

    /// Whether the file at the stream's path is no longer the one mapped (re-created, or removed).
    /// Readers look by themselves while they wait ([`Error::Replaced`], [`Error::Removed`]).
    pub fn inode_changed(&self) -> Result<bool> {
        let Some((_, path, ino)) = self.map.file() else {
            return Ok(false);
        };
        match std::fs::metadata(path) {
            Ok(m) => Ok(std::os::unix::fs::MetadataExt::ino(&m) != ino),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
            Err(e) => Err(Error::io("stat", path, e)),
        }
    }

    /// If the stream was re-created, opens the new file in place of the old one (the legacy
    /// relink). Returns whether it did. Readers made from the old handle keep the old mapping.
    pub fn reopen_if_replaced(&mut self) -> Result<bool> {
        if !self.inode_changed()? {
            return Ok(false);
        }
        let dir = self.dir.clone().unwrap_or_else(|| PathBuf::from("."));
        let fresh = Self::open_in(dir, &self.name)?;
        self.map = fresh.map;
        self.owns_flag = false;
        Ok(true)
    }

    /// Removes the stream file (if it is still the one mapped) and closes the handle.
    pub fn destroy(self) -> Result<()> {
        if let Some((_, path, _)) = self.map.file() {
            if !self.inode_changed()? {
                std::fs::remove_file(path).map_err(|e| Error::io("unlink", path, e))?;
            }
        }
        Ok(())
    }

    /// A stream over memory someone else mapped (the C API's `IMAGE`): the header is copied and
    /// validated against `len` first.
    ///
    /// # Safety
    /// `base` must be 8-aligned and valid for reads and writes of `len` bytes for as long as the
    /// returned `Stream` (and any reader made from it) lives.
    #[doc(hidden)]
    pub unsafe fn borrow_raw(base: *mut u8, len: usize, name: &str) -> Result<Self> {
        let mut header = [0u8; IMAGE_METADATA_SIZE];
        if len >= IMAGE_METADATA_SIZE {
            // SAFETY: `base` is readable for `len` ≥ header bytes (caller contract).
            unsafe { shmim_sync::seqlock::copy_out(&mut header, base) };
        }
        let geo =
            crate::validate::validate(&header, len as u64).map_err(|check| Error::Invalid {
                path: PathBuf::from(name),
                check,
            })?;
        // SAFETY: forwarded to the caller; `len` equals the validated file size.
        let map = unsafe { Mapping::borrowed(base, geo) }.settled();
        Ok(Self::from_mapping(map, name, None))
    }

    /// Hands the stream's memory and file descriptor to a caller that manages them by hand (the C
    /// API). Fails if readers made from this handle are still alive.
    #[doc(hidden)]
    pub fn into_raw(self) -> std::result::Result<crate::mapping::RawStream, Self> {
        match Arc::try_unwrap(self.map) {
            Ok(map) => Ok(map.into_raw()),
            Err(map) => Err(Self { map, ..self }),
        }
    }

    pub(crate) fn check_cpu(&self) -> Result<()> {
        let g = self.geometry();
        if g.location >= 0 {
            return Err(Error::GpuStream {
                name: self.name.clone(),
                location: g.location,
            });
        }
        Ok(())
    }

    pub(crate) fn check_type<T: Pixel>(&self) -> Result<()> {
        if T::DATATYPE != self.datatype() {
            return Err(Error::TypeMismatch {
                stream: self.datatype(),
                requested: T::DATATYPE,
            });
        }
        Ok(())
    }

    pub(crate) fn check_frame_buffer<T: Pixel>(&self, len: usize) -> Result<()> {
        self.check_type::<T>()?;
        if len as u64 != self.nelement() {
            return Err(Error::LengthMismatch {
                expected: self.nelement(),
                found: len,
            });
        }
        Ok(())
    }
}

/// `path` made absolute against the working directory now. A stream keeps its path to tell when
/// the file was replaced or removed (readers `stat` it while they wait): a relative one would lead
/// elsewhere once the process changes directory, and a live stream would read as deleted. Kept as
/// given if it cannot be made absolute (an empty path, a working directory that no longer exists).
fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}
