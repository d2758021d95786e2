//! The worked examples of format.md: files created by the legacy library, offsets to the byte.

use shmim_layout::{Datatype, IMAGE_METADATA_SIZE, ImageType, RegionSpec, Regions};

const MD: u64 = IMAGE_METADATA_SIZE as u64;

struct Row {
    spec: RegionSpec,
    /// file size, data, kw, sems, semlog, semReadPID, semWritePID, semctrl, semstatus, proctrace,
    /// CB md, CB data (0 = none)
    figures: [u64; 12],
}

fn rows() -> Vec<Row> {
    let cube = ImageType::CIRCULAR_BUFFER | ImageType::ZAXIS_TEMPORAL;
    vec![
        Row {
            spec: RegionSpec::new(&[512, 512], Datatype::Float).with_semaphores(10),
            figures: [
                1050112, 384, 1048960, 1048960, 1049280, 1049312, 1049352, 1049392, 1049432,
                1049472, 1050112, 0,
            ],
        },
        Row {
            spec: RegionSpec::new(&[64, 64], Datatype::U16)
                .with_semaphores(4)
                .with_keywords(8),
            figures: [
                10464, 384, 8576, 9600, 9728, 9760, 9776, 9792, 9808, 9824, 10464, 0,
            ],
        },
        Row {
            spec: RegionSpec::new(&[7, 5], Datatype::ComplexFloat)
                .with_semaphores(3)
                .with_keywords(1),
            figures: [1624, 384, 664, 792, 888, 920, 936, 952, 968, 984, 1624, 0],
        },
        Row {
            spec: RegionSpec::new(&[13], Datatype::U8)
                .with_semaphores(1)
                .with_keywords(3),
            figures: [1520, 384, 400, 784, 816, 848, 856, 864, 872, 880, 1520, 0],
        },
        Row {
            spec: RegionSpec::new(&[32, 32, 10], Datatype::Float)
                .with_semaphores(2)
                .with_keywords(2)
                .with_imagetype(cube)
                .with_circular_buffer(4),
            figures: [
                206800, 384, 41344, 41600, 41664, 41696, 41704, 41712, 41720, 41728, 42768, 42960,
            ],
        },
        Row {
            spec: RegionSpec::new(&[16, 16], Datatype::Double)
                .with_semaphores(5)
                .with_circular_buffer(3),
            figures: [
                9648, 384, 2432, 2432, 2592, 2624, 2648, 2672, 2696, 2720, 3360, 3504,
            ],
        },
        Row {
            spec: RegionSpec::new(&[3, 3], Datatype::Half).with_semaphores(0),
            figures: [1080, 384, 408, 408, 408, 440, 440, 440, 440, 440, 1080, 0],
        },
    ]
}

fn figures(r: &Regions) -> [u64; 12] {
    let cb_data = if r.cb_data.len == 0 {
        0
    } else {
        r.cb_data.offset
    };
    [
        r.file_size,
        r.data.offset,
        r.keywords.offset,
        r.semaphores.offset,
        r.semlog.offset,
        r.sem_read_pid.offset,
        r.sem_write_pid.offset,
        r.semctrl.offset,
        r.semstatus.offset,
        r.proctrace.offset,
        r.cb_md.offset,
        cb_data,
    ]
}

#[test]
#[cfg(not(any(feature = "writehistory", feature = "dao-compat")))]
fn legacy_file_sizes_and_offsets_match_to_the_byte() {
    for row in rows() {
        let regions = row.spec.regions().unwrap();
        assert_eq!(figures(&regions), row.figures, "{:?}", row.spec);
    }
}

#[test]
#[cfg(not(any(feature = "writehistory", feature = "dao-compat")))]
fn temporal_cube_has_its_three_arrays_after_the_proc_trace() {
    let cube = &rows()[4];
    let r = cube.spec.regions().unwrap();
    assert_eq!(
        (
            r.atime_array.offset,
            r.writetime_array.offset,
            r.cnt_array.offset
        ),
        (42368, 42528, 42688)
    );
    assert_eq!((r.atime_array.len, r.cnt_array.len), (160, 80));
    let plain = rows()[5].spec.regions().unwrap();
    assert_eq!(
        plain.atime_array.len + plain.writetime_array.len + plain.cnt_array.len,
        0
    );
}

#[test]
#[cfg(not(any(feature = "writehistory", feature = "dao-compat")))]
fn golden_files_have_the_sizes_of_their_manifest() {
    let cube = ImageType::CIRCULAR_BUFFER | ImageType::ZAXIS_TEMPORAL;
    let cases = [
        (
            RegionSpec::new(&[8, 8], Datatype::Float)
                .with_semaphores(3)
                .with_keywords(3),
            1856,
            256,
        ),
        (
            RegionSpec::new(&[4, 4, 3], Datatype::U16)
                .with_semaphores(2)
                .with_keywords(1)
                .with_imagetype(cube)
                .with_circular_buffer(2),
            1784,
            96,
        ),
        (
            RegionSpec::new(&[5], Datatype::ComplexDouble).with_semaphores(1),
            1200,
            80,
        ),
        (RegionSpec::new(&[3, 2], Datatype::I32), 1560, 24),
    ];
    for (spec, size, imdatamemsize) in cases {
        let r = spec.regions().unwrap();
        assert_eq!(
            (r.file_size, r.imdatamemsize),
            (size, imdatamemsize),
            "{spec:?}"
        );
    }
}

#[test]
fn every_datatype_sizes_its_pixels() {
    for t in Datatype::ALL {
        let r = RegionSpec::new(&[3, 5], t).regions().unwrap();
        assert_eq!(r.nelement, 15);
        assert_eq!(r.imdatamemsize, 15 * t.size() as u64);
        assert_eq!(
            r.keywords.offset,
            MD + (15 * t.size() as u64).div_ceil(8) * 8
        );
    }
}

#[test]
fn gpu_streams_keep_no_pixels_in_the_file() {
    let mut spec = RegionSpec::new(&[64, 64], Datatype::Float);
    spec.location = 0;
    let r = spec.regions().unwrap();
    assert_eq!((r.data.len, r.keywords.offset), (0, MD));
}
