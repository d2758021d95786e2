//! Fuzz target: header validation of `Stream::open` is a pure function over bytes; whatever the
//! bytes and the claimed file length, it returns a geometry or a typed error, and a geometry it
//! returns keeps every region inside the file.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 8 {
        return;
    }
    let (len, header) = data.split_at(8);
    let file_len = u64::from_le_bytes(len.try_into().unwrap()) % (1 << 44);
    if let Ok(g) = shmim_core::validate::validate(header, file_len) {
        for (name, r) in g.regions.named() {
            assert!(r.end() <= g.regions.file_size, "{name} outside the file");
        }
        assert_eq!(g.regions.file_size, file_len);
    }
});
