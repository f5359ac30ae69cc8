//! AWS's event-stream framing (`application/vnd.amazon.eventstream`), in which
//! InvokeWithResponseStream returns a function's response: each message is a
//! prelude (total length, headers length, CRC-32 of the two), string headers
//! (`:message-type`, `:event-type`, `:content-type`), the payload, and a CRC-32 of
//! everything before it. The AWS SDKs check both checksums.

use bytes::{BufMut, Bytes, BytesMut};

/// The response's `Content-Type`.
pub const CONTENT_TYPE: &str = "application/vnd.amazon.eventstream";

/// Header value type 7: a string with a 16-bit length.
const STRING: u8 = 7;

/// One `event` message of type `event_type` carrying `payload`.
pub fn event(event_type: &str, content_type: &str, payload: &[u8]) -> Bytes {
    let mut headers = BytesMut::new();
    for (name, value) in [
        (":event-type", event_type),
        (":content-type", content_type),
        (":message-type", "event"),
    ] {
        headers.put_u8(name.len() as u8);
        headers.put_slice(name.as_bytes());
        headers.put_u8(STRING);
        headers.put_u16(value.len() as u16);
        headers.put_slice(value.as_bytes());
    }
    let total = 12 + headers.len() + payload.len() + 4;
    let mut out = BytesMut::with_capacity(total);
    out.put_u32(total as u32);
    out.put_u32(headers.len() as u32);
    out.put_u32(crc32fast::hash(&out[..8]));
    out.put_slice(&headers);
    out.put_slice(payload);
    out.put_u32(crc32fast::hash(&out));
    out.freeze()
}

/// A `PayloadChunk` event: the next bytes of the function's response.
pub fn payload_chunk(bytes: &[u8]) -> Bytes {
    event("PayloadChunk", "application/octet-stream", bytes)
}

/// The `InvokeComplete` event that ends the stream: the function's error, if
/// any, and the log tail when asked for.
pub fn invoke_complete(error: Option<(&str, &str)>, log_result: Option<&str>) -> Bytes {
    let mut body = serde_json::Map::new();
    if let Some((code, details)) = error {
        body.insert("ErrorCode".into(), code.into());
        body.insert("ErrorDetails".into(), details.into());
    }
    if let Some(log) = log_result {
        body.insert("LogResult".into(), log.into());
    }
    let json = serde_json::Value::Object(body).to_string();
    event("InvokeComplete", "application/json", json.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Splits one message back into its headers and payload, checking lengths and
    /// checksums as a client does.
    fn decode(msg: &[u8]) -> (Vec<(String, String)>, Vec<u8>) {
        let total = u32::from_be_bytes(msg[0..4].try_into().unwrap()) as usize;
        let hlen = u32::from_be_bytes(msg[4..8].try_into().unwrap()) as usize;
        assert_eq!(total, msg.len());
        assert_eq!(
            u32::from_be_bytes(msg[8..12].try_into().unwrap()),
            crc32fast::hash(&msg[..8])
        );
        assert_eq!(
            u32::from_be_bytes(msg[total - 4..].try_into().unwrap()),
            crc32fast::hash(&msg[..total - 4])
        );
        let mut headers = Vec::new();
        let mut h = &msg[12..12 + hlen];
        while !h.is_empty() {
            let n = h[0] as usize;
            let name = String::from_utf8(h[1..1 + n].to_vec()).unwrap();
            assert_eq!(h[1 + n], STRING);
            let vlen = u16::from_be_bytes([h[2 + n], h[3 + n]]) as usize;
            let value = String::from_utf8(h[4 + n..4 + n + vlen].to_vec()).unwrap();
            headers.push((name, value));
            h = &h[4 + n + vlen..];
        }
        (headers, msg[12 + hlen..total - 4].to_vec())
    }

    #[test]
    fn messages_carry_their_type_and_checksums() {
        let msg = payload_chunk(b"hello");
        let (headers, payload) = decode(&msg);
        assert_eq!(payload, b"hello");
        assert!(headers.contains(&(":event-type".into(), "PayloadChunk".into())));
        assert!(headers.contains(&(":message-type".into(), "event".into())));
    }

    #[test]
    fn the_last_message_says_how_it_ended() {
        let (_, ok) = decode(&invoke_complete(None, None));
        assert_eq!(ok, b"{}");
        let (headers, failed) = decode(&invoke_complete(
            Some(("Sandbox.Timedout", "Task timed out")),
            Some("bG9n"),
        ));
        assert!(headers.contains(&(":event-type".into(), "InvokeComplete".into())));
        let v: serde_json::Value = serde_json::from_slice(&failed).unwrap();
        assert_eq!(v["ErrorCode"], "Sandbox.Timedout");
        assert_eq!(v["ErrorDetails"], "Task timed out");
        assert_eq!(v["LogResult"], "bG9n");
    }

    #[test]
    fn an_empty_chunk_is_a_valid_message() {
        let (_, payload) = decode(&payload_chunk(b""));
        assert!(payload.is_empty());
    }
}
