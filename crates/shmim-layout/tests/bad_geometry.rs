//! Geometries that cannot describe a stream are errors, never wrapped sizes.

use shmim_layout::{Datatype, ImageType, LayoutError, RegionSpec};

#[test]
fn naxis_outside_one_to_three_is_refused() {
    assert_eq!(
        RegionSpec::new(&[], Datatype::U8).regions(),
        Err(LayoutError::Naxis(0))
    );
    assert_eq!(
        RegionSpec::new(&[1, 1, 1, 1], Datatype::U8).regions(),
        Err(LayoutError::Naxis(4))
    );
}

#[test]
fn a_used_axis_of_length_zero_is_refused() {
    assert_eq!(
        RegionSpec::new(&[4, 0], Datatype::U8).regions(),
        Err(LayoutError::ZeroAxis { axis: 1 })
    );
}

#[test]
fn unknown_datatype_and_bad_location_are_refused() {
    let mut spec = RegionSpec::new(&[4], Datatype::U8);
    spec.datatype = 20;
    assert_eq!(spec.regions(), Err(LayoutError::Datatype(20)));
    let mut spec = RegionSpec::new(&[4], Datatype::U8);
    spec.location = -2;
    assert_eq!(spec.regions(), Err(LayoutError::Location(-2)));
}

#[test]
fn plain_circular_buffer_needs_a_cube() {
    let spec = RegionSpec::new(&[4, 4], Datatype::U8).with_imagetype(ImageType::CIRCULAR_BUFFER);
    assert_eq!(
        spec.regions(),
        Err(LayoutError::CircularBufferAxes {
            imagetype: 1,
            naxis: 2
        })
    );
}

#[test]
fn absurd_dimensions_exceed_the_element_limit() {
    let spec = RegionSpec::new(&[u32::MAX, u32::MAX, u32::MAX], Datatype::ComplexDouble);
    assert!(matches!(
        spec.regions(),
        Err(LayoutError::Overflow { region: "nelement" })
    ));
    let spec = RegionSpec::new(&[100_000, 100_001], Datatype::U8);
    assert!(matches!(
        spec.regions(),
        Err(LayoutError::TooManyElements {
            nelement: 10_000_100_000
        })
    ));
}

#[test]
fn circular_buffer_frames_that_overflow_are_an_error() {
    // 10^10 complex doubles = 1.6e11 bytes per frame; × 2^32 - 1 frames overflows u64.
    let spec = RegionSpec::new(&[100_000, 100_000], Datatype::ComplexDouble)
        .with_circular_buffer(u32::MAX);
    assert_eq!(
        spec.regions(),
        Err(LayoutError::Overflow {
            region: "circular-buffer frames"
        })
    );
}
