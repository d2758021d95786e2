//! Compile-time proof that the C view of the format (`image_struct.rs`) is the format:
//! every struct has `shmim-layout`'s size and every field its offset, the `IMAGE` handle has
//! format.md's offsets, and every constant equals its `shmim-layout` counterpart.

use core::mem::{align_of, offset_of, size_of};

use shmim_layout as l;

use crate::image_struct::*;

macro_rules! same_offsets {
    ($c:ty, $r:ty, $($cf:ident = $rf:ident),* $(,)?) => {
        const _: () = {
            assert!(size_of::<$c>() == size_of::<$r>());
            assert!(align_of::<$c>() == align_of::<$r>());
            $(assert!(offset_of!($c, $cf) == offset_of!($r, $rf));)*
        };
    };
}

same_offsets!(
    IMAGE_METADATA,
    l::ImageMetadata,
    version = version,
    name = name,
    naxis = naxis,
    size = size,
    nelement = nelement,
    datatype = datatype,
    imagetype = imagetype,
    creationtime = creationtime,
    lastaccesstime = lastaccesstime,
    atime = atime,
    writetime = writetime,
    creatorPID = creator_pid,
    ownerPID = owner_pid,
    shared = shared,
    inode = inode,
    location = location,
    status = status,
    flag = flag,
    logflag = logflag,
    sem = sem,
    NBproctrace = nb_proctrace,
    cnt0 = cnt0,
    cnt1 = cnt1,
    cnt2 = cnt2,
    write = write,
    NBkw = nb_kw,
    CBsize = cb_size,
    CBindex = cb_index,
    CBcycle = cb_cycle,
    imdatamemsize = imdatamemsize,
    cudaMemHandle = cuda_mem_handle,
);
same_offsets!(
    IMAGE_KEYWORD,
    l::ImageKeyword,
    name = name,
    r#type = kw_type,
    value = value,
    cnt = cnt,
    comment = comment,
);
same_offsets!(
    STREAM_PROC_TRACE,
    l::StreamProcTrace,
    triggermode = triggermode,
    procwrite_PID = procwrite_pid,
    trigger_inode = trigger_inode,
    ts_procstart = ts_procstart,
    ts_streamupdate = ts_streamupdate,
    trigsemindex = trigsemindex,
    triggerstatus = triggerstatus,
    cnt0 = cnt0,
);
same_offsets!(
    CBFRAMEMD,
    l::CbFrameMd,
    cnt0 = cnt0,
    cnt1 = cnt1,
    atime = atime,
    writetime = writetime
);
same_offsets!(
    FRAMEWRITEMD,
    l::FrameWriteMd,
    cnt0 = cnt0,
    wpid = wpid,
    writetime = writetime
);
same_offsets!(SEMFILEDATA, l::SemSlot, semdata = bytes);
same_offsets!(IMAGE_KEYWORD_VALUE, l::KeywordValue,);
same_offsets!(complex_float, l::ComplexF32, re = re, im = im);
same_offsets!(complex_double, l::ComplexF64, re = re, im = im);
same_offsets!(
    TIMESPECFIXED,
    l::Timespec,
    firstlong = tv_sec,
    secondlong = tv_nsec
);
same_offsets!(
    libc::timespec,
    l::Timespec,
    tv_sec = tv_sec,
    tv_nsec = tv_nsec
);

// The fields of the legacy compile-time variants (cargo features of this crate and of
// shmim-layout, C macros IMAGESTRUCT_WRITEHISTORY and DAO_COMPAT).
#[cfg(feature = "writehistory")]
const _: () = {
    type M = IMAGE_METADATA;
    type R = l::ImageMetadata;
    assert!(offset_of!(M, wCBindex) == offset_of!(R, w_cb_index));
    assert!(offset_of!(M, wCBcycle) == offset_of!(R, w_cb_cycle));
    assert!(offset_of!(IMAGE, writehist) == 248);
};
#[cfg(feature = "dao-compat")]
const _: () = {
    type M = IMAGE_METADATA;
    type R = l::ImageMetadata;
    assert!(offset_of!(M, lastPos) == offset_of!(R, last_pos));
    assert!(offset_of!(M, lastNb) == offset_of!(R, last_nb));
    assert!(offset_of!(M, packetNb) == offset_of!(R, packet_nb));
    assert!(offset_of!(M, packetTotal) == offset_of!(R, packet_total));
    assert!(offset_of!(M, lastNbArray) == offset_of!(R, last_nb_array));
};

/// `sizeof(IMAGE)`: 248 bytes, 256 with the write-history pointer.
const IMAGE_SIZE: usize = if cfg!(feature = "writehistory") {
    256
} else {
    248
};

// format.md, "IMAGE (process-local handle)".
const _: () = {
    type I = IMAGE;
    assert!(size_of::<I>() == IMAGE_SIZE && align_of::<I>() == 8);
    assert!(offset_of!(I, name) == 0);
    assert!(offset_of!(I, used) == 80);
    assert!(offset_of!(I, createcnt) == 88);
    assert!(offset_of!(I, shmfd) == 96);
    assert!(offset_of!(I, memsize) == 104);
    assert!(offset_of!(I, semlog) == 112);
    assert!(offset_of!(I, md) == 120);
    assert!(offset_of!(I, array) == 128);
    assert!(offset_of!(I, semptr) == 136);
    assert!(offset_of!(I, kw) == 144);
    assert!(offset_of!(I, semfile) == 152);
    assert!(offset_of!(I, semReadPID) == 160);
    assert!(offset_of!(I, semWritePID) == 168);
    assert!(offset_of!(I, semctrl) == 176);
    assert!(offset_of!(I, semstatus) == 184);
    assert!(offset_of!(I, streamproctrace) == 192);
    assert!(offset_of!(I, flagarray) == 200);
    assert!(offset_of!(I, cntarray) == 208);
    assert!(offset_of!(I, atimearray) == 216);
    assert!(offset_of!(I, writetimearray) == 224);
    assert!(offset_of!(I, CircBuff_md) == 232);
    assert!(offset_of!(I, CBimdata) == 240);
    assert!(size_of::<IMAGE_ARRAY>() == 8);
    assert!(size_of::<cudaIpcMemHandle_t>() == 64);
};

const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

// The constants cbindgen copies into the headers, against the format's.
const _: () = {
    use l::datatype::{
        DATATYPE_EVENT_UI8_UI8_UI16_UI8 as EVENT,
        SIZEOF_DATATYPE_EVENT_UI8_UI8_UI16_UI8 as EVENT_SIZE,
    };
    use l::{Datatype as D, ImageType as T};
    assert!(str_eq(IMAGESTRUCT_VERSION, l::IMAGESTRUCT_VERSION));
    assert!(str_eq(SHAREDMEMDIR, l::SHAREDMEMDIR));
    assert!(STRINGMAXLEN_IMAGE_NAME == l::IMAGE_NAME_LEN);
    assert!(STRINGMAXLEN_FILE_NAME == l::FILE_NAME_LEN);
    assert!(STRINGMAXLEN_DIR_NAME == l::DIR_NAME_LEN);
    assert!(STRINGMAXLEN_SEMFILENAME == l::SEMFILENAME_LEN);
    assert!(KEYWORD_MAX_STRING == l::KEYWORD_MAX_STRING);
    assert!(KEYWORD_MAX_COMMENT == l::KEYWORD_MAX_COMMENT);
    assert!(IMAGESTRUCT_FRAMEWRITEMDSIZE as usize == l::FRAMEWRITEMD_SIZE);
    assert!(MAX_NB_PARTIAL_PACKET as usize == l::MAX_NB_PARTIAL_PACKET);
    assert!(SEMAPHORE_MAXVAL == l::SEMAPHORE_MAXVAL);
    assert!(SEMAPHORE_INITVAL == l::SEMAPHORE_INITVAL);
    assert!(IMAGE_NB_SEMAPHORE == l::IMAGE_NB_SEMAPHORE as u32);
    assert!(IMAGE_NB_PROCTRACE == l::IMAGE_NB_PROCTRACE as u32);
    assert!(GPU_IMAGE_PLACEHOLDER == l::GPU_IMAGE_PLACEHOLDER as u32);
    assert!(_DATATYPE_UNINITIALIZED == l::datatype::DATATYPE_UNINITIALIZED);
    assert!(_DATATYPE_EVENT_UI8_UI8_UI16_UI8 == EVENT);
    assert!(SIZEOF_DATATYPE_EVENT_UI8_UI8_UI16_UI8 as usize == EVENT_SIZE);
    let codes = [
        (_DATATYPE_UINT8, SIZEOF_DATATYPE_UINT8, D::U8),
        (_DATATYPE_INT8, SIZEOF_DATATYPE_INT8, D::I8),
        (_DATATYPE_UINT16, SIZEOF_DATATYPE_UINT16, D::U16),
        (_DATATYPE_INT16, SIZEOF_DATATYPE_INT16, D::I16),
        (_DATATYPE_UINT32, SIZEOF_DATATYPE_UINT32, D::U32),
        (_DATATYPE_INT32, SIZEOF_DATATYPE_INT32, D::I32),
        (_DATATYPE_UINT64, SIZEOF_DATATYPE_UINT64, D::U64),
        (_DATATYPE_INT64, SIZEOF_DATATYPE_INT64, D::I64),
        (_DATATYPE_FLOAT, SIZEOF_DATATYPE_FLOAT, D::Float),
        (_DATATYPE_DOUBLE, SIZEOF_DATATYPE_DOUBLE, D::Double),
        (
            _DATATYPE_COMPLEX_FLOAT,
            SIZEOF_DATATYPE_COMPLEX_FLOAT,
            D::ComplexFloat,
        ),
        (
            _DATATYPE_COMPLEX_DOUBLE,
            SIZEOF_DATATYPE_COMPLEX_DOUBLE,
            D::ComplexDouble,
        ),
        (_DATATYPE_HALF, SIZEOF_DATATYPE_HALF, D::Half),
    ];
    let mut i = 0;
    while i < codes.len() {
        assert!(codes[i].0 == codes[i].2.code());
        assert!(codes[i].1 as usize == codes[i].2.size());
        i += 1;
    }
    assert!(Dtype == D::Float.code() && CDtype == D::ComplexFloat.code());
    assert!(IMAGE_SEMAPHORE_CONTROL_READY == l::SEMCTRL_READY);
    assert!(IMAGE_SEMAPHORE_STATUS_CONNECTED == l::SEMSTATUS_CONNECTED);
    assert!(IMAGE_SEMAPHORE_STATUS_SEMWAIT == l::SEMSTATUS_SEMWAIT);
    assert!(IMAGE_SEMAPHORE_STATUS_SEMREADYWAIT == l::SEMSTATUS_SEMREADYWAIT);
    assert!(IMAGE_SEMAPHORE_STATUS_SEMTIMEOUT == l::SEMSTATUS_SEMTIMEOUT);
    assert!(CIRCULAR_BUFFER == T::CIRCULAR_BUFFER && MATH_DATA == T::MATH_DATA);
    assert!(IMG_RECV == T::IMG_RECV && IMG_SENT == T::IMG_SENT);
    assert!(ZAXIS_UNDEF == T::ZAXIS_UNDEF && ZAXIS_SPACIAL == T::ZAXIS_SPACIAL);
    assert!(ZAXIS_TEMPORAL == T::ZAXIS_TEMPORAL && ZAXIS_WAVELENGTH == T::ZAXIS_WAVELENGTH);
    assert!(ZAXIS_MAPPING == T::ZAXIS_MAPPING);
};
