//! Property: for any valid geometry, regions are 8-aligned, in order, non-overlapping and inside
//! the file. Inputs come from a fixed-seed generator, so a failure is reproducible.

use shmim_layout::{Datatype, ImageType, RegionSpec};

#[path = "support/splitmix.rs"]
mod splitmix;
use splitmix::Rng;

#[test]
fn regions_are_aligned_ordered_disjoint_and_inside_the_file() {
    let mut rng = Rng(0x5eed);
    let mut checked = 0;
    for _ in 0..20_000 {
        let naxis = 1 + rng.below(3) as usize;
        let shape: Vec<u32> = (0..naxis).map(|_| 1 + rng.below(300) as u32).collect();
        let datatype = Datatype::ALL[rng.below(13) as usize];
        let imagetype = match rng.below(3) {
            0 => ImageType::MATH_DATA,
            1 => ImageType::CIRCULAR_BUFFER | ImageType::ZAXIS_TEMPORAL,
            _ => ImageType::CIRCULAR_BUFFER,
        };
        let mut spec = RegionSpec::new(&shape, datatype)
            .with_semaphores(rng.below(20) as u16)
            .with_keywords(rng.below(50) as u16)
            .with_imagetype(imagetype)
            .with_circular_buffer(rng.below(5) as u32);
        spec.nb_proctrace = rng.below(12) as u16;
        spec.location = rng.below(3) as i8 - 1;
        let Ok(r) = spec.regions() else {
            assert!(
                imagetype == ImageType::CIRCULAR_BUFFER && naxis != 3,
                "{spec:?}"
            );
            continue;
        };
        let named = r.named();
        for pair in named.windows(2) {
            let ((name, a), (next, b)) = (pair[0], pair[1]);
            assert_eq!(a.offset % 8, 0, "{name} misaligned in {spec:?}");
            assert!(a.end() <= b.offset, "{name} overlaps {next} in {spec:?}");
            assert!(b.offset - a.end() < 8, "gap after {name} in {spec:?}");
        }
        assert_eq!(r.file_size % 8, 0);
        checked += 1;
    }
    assert!(checked > 10_000);
}
