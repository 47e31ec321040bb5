//! Feed codec invariants, shared by the `feed_frames` fuzz target and `tests/fuzz_replay.rs`
//! (which includes this file by `#[path]`): reading frames from any bytes (either
//! direction's) ends in a message or an error, never a panic; a length prefix past the limit
//! is refused; every message read writes back as a frame that reads back the same; and the
//! whole input taken as one payload decodes or is refused with a message.

use std::io::Cursor;

use callgate_wire::feed::{self, MAX_FRAME, Message};

/// Reads frames from `data` until it fails, and decodes `data` as one payload.
pub fn check_feed(data: &[u8]) {
    let mut r = Cursor::new(data);
    let mut buf = Vec::new();
    for _ in 0..64 {
        match feed::read_message(&mut r, &mut buf) {
            Ok(m) => round_trip(&m),
            Err(e) => {
                assert!(!e.to_string().is_empty(), "an empty feed error");
                break;
            }
        }
    }
    if let Some(header) = data.get(..4).and_then(|h| <[u8; 4]>::try_from(h).ok()) {
        let announced = u32::from_be_bytes(header) as usize;
        assert_eq!(
            feed::frame_len(header).is_ok(),
            announced <= MAX_FRAME,
            "frame length {announced} judged wrongly"
        );
    }
    match feed::decode(data) {
        Ok(m) => round_trip(&m),
        Err(e) => assert!(!e.to_string().is_empty(), "an empty feed error"),
    }
}

fn round_trip(m: &Message) {
    assert!(!m.kind().is_empty());
    let frame = feed::encode(m).expect("a message read encodes");
    let mut r = Cursor::new(frame.as_slice());
    let again = feed::read_message(&mut r, &mut Vec::new()).expect("an encoded frame reads back");
    assert_eq!(&again, m, "a message changed through the codec");
    assert_eq!(r.position() as usize, frame.len(), "a frame read short");
    if let Message::Tenant { tenant, .. } | Message::Put { tenant, .. } = again {
        tenant.into_model().expect("a tenant read is a model");
    }
}
