//! The outer encoding of cluster messages, shared by every remote adapter: JSON, or MessagePack
//! as Node's `notepack.io` (and `@msgpack/msgpack`) write it, converted to and from the JSON this
//! crate carries (binary data as `{"_placeholder":true,"num":n}` plus attachments).
//!
//! Readers sniff the first byte as Node's adapters do (`{` is JSON, anything else MessagePack);
//! writers choose per message ([`encode`]), since which messages may be MessagePack differs from
//! one Node adapter to the next.
//!
//! Everything read here comes from a shared Redis channel, so it is decoded with a depth limit and
//! no allocation sized by what a message claims; anything unexpected is an error, never a panic.

use bytes::Bytes;
use serde_json::{Map, Number, Value};

/// How deep a MessagePack value may nest (the JSON parser stops at 128 levels too).
const MAX_DEPTH: usize = 128;

/// A message (MessagePack or JSON) could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct MsgpackError(String);

/// A message from a channel: JSON (first byte `{`) or MessagePack, as JSON with binary values
/// taken out as attachments.
#[derive(Debug, Default, Clone)]
pub(crate) struct Decoded {
    pub value: Value,
    pub attachments: Vec<Bytes>,
}

/// Decodes a channel message the way Node's adapters do: JSON when it starts with `{`, else
/// MessagePack.
pub(crate) fn decode_message(payload: &[u8]) -> Result<Decoded, MsgpackError> {
    if payload.first() == Some(&b'{') {
        let value = serde_json::from_slice(payload).map_err(|e| MsgpackError(e.to_string()))?;
        return Ok(Decoded {
            value,
            attachments: Vec::new(),
        });
    }
    decode_msgpack(payload)
}

/// Encodes a message: MessagePack when asked or when it carries binary data (JSON would mangle
/// it), JSON otherwise.
pub(crate) fn encode(value: &Value, attachments: &[Bytes], msgpack: bool) -> Vec<u8> {
    if msgpack || has_binary(value, attachments) {
        let mut out = Vec::new();
        write_json(&mut out, value, attachments);
        out
    } else {
        serde_json::to_vec(value).unwrap_or_default()
    }
}

/// Decodes MessagePack into JSON, binary values becoming placeholders numbered in the order they
/// appear.
pub(crate) fn decode_msgpack(payload: &[u8]) -> Result<Decoded, MsgpackError> {
    let mut reader = payload;
    let value = rmpv::decode::read_value_with_max_depth(&mut reader, MAX_DEPTH)
        .map_err(|e| MsgpackError(e.to_string()))?;
    if !reader.is_empty() {
        return Err(MsgpackError(format!(
            "{} bytes after the value",
            reader.len()
        )));
    }
    let mut attachments = Vec::new();
    let value = to_json(value, &mut attachments).unwrap_or(Value::Null);
    Ok(Decoded { value, attachments })
}

/// One MessagePack value as JSON; `None` for JavaScript's `undefined` (left out of objects, `null`
/// in arrays, as `JSON.stringify` does).
fn to_json(value: rmpv::Value, attachments: &mut Vec<Bytes>) -> Option<Value> {
    use rmpv::Value as M;
    Some(match value {
        M::Nil => Value::Null,
        M::Boolean(b) => Value::Bool(b),
        M::Integer(i) => match (i.as_u64(), i.as_i64()) {
            (Some(u), _) => Value::Number(u.into()),
            (None, Some(i)) => Value::Number(i.into()),
            (None, None) => Value::Null,
        },
        M::F32(f) => float(f64::from(f)),
        M::F64(f) => float(f),
        // Invalid UTF-8 (notepack never writes it) becomes an empty string.
        M::String(s) => Value::String(s.into_str().unwrap_or_default()),
        M::Binary(data) => placeholder(Bytes::from(data), attachments),
        M::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|v| to_json(v, attachments).unwrap_or(Value::Null))
                .collect(),
        ),
        M::Map(entries) => {
            let mut map = Map::new();
            for (k, v) in entries {
                let Some(key) = key_string(k) else { continue };
                if let Some(v) = to_json(v, attachments) {
                    map.insert(key, v);
                }
            }
            Value::Object(map)
        }
        M::Ext(kind, data) => return ext_to_json(kind, data, attachments),
    })
}

/// Extension types as `notepack.io` reads them: timestamps (-1) become dates (written as
/// `JSON.stringify` writes a `Date`), type 0 is `undefined` (one byte) or an `ArrayBuffer`, and
/// any other is `[type, buffer]`.
fn ext_to_json(kind: i8, data: Vec<u8>, attachments: &mut Vec<Bytes>) -> Option<Value> {
    match (kind, data.len()) {
        (0, 1) => None,
        (0, _) => Some(placeholder(Bytes::from(data), attachments)),
        (-1, 4 | 8 | 12) => Some(timestamp(&data).map_or(Value::Null, Value::String)),
        _ => Some(Value::Array(vec![
            Value::Number(kind.into()),
            placeholder(Bytes::from(data), attachments),
        ])),
    }
}

fn timestamp(data: &[u8]) -> Option<String> {
    let (secs, nanos): (i64, u32) = match data.len() {
        4 => (i64::from(u32::from_be_bytes(data.try_into().ok()?)), 0),
        8 => {
            let raw = u64::from_be_bytes(data.try_into().ok()?);
            ((raw & 0x3_ffff_ffff) as i64, (raw >> 34) as u32)
        }
        12 => {
            let nanos = u32::from_be_bytes(data.get(..4)?.try_into().ok()?);
            let secs = i64::from_be_bytes(data.get(4..)?.try_into().ok()?);
            (secs, nanos)
        }
        _ => return None,
    };
    let millis = secs
        .checked_mul(1000)?
        .checked_add(i64::from(nanos / 1_000_000))?;
    iso_date(millis)
}

fn key_string(key: rmpv::Value) -> Option<String> {
    match key {
        rmpv::Value::String(s) => s.into_str(),
        rmpv::Value::Integer(i) => Some(i.to_string()),
        rmpv::Value::Boolean(b) => Some(b.to_string()),
        rmpv::Value::Nil => Some("null".into()),
        rmpv::Value::F64(f) => Some(f.to_string()),
        rmpv::Value::F32(f) => Some(f.to_string()),
        _ => None,
    }
}

fn float(f: f64) -> Value {
    // JSON.stringify writes NaN and the infinities as null.
    Number::from_f64(f).map_or(Value::Null, Value::Number)
}

fn placeholder(data: Bytes, attachments: &mut Vec<Bytes>) -> Value {
    let num = attachments.len();
    attachments.push(data);
    crate::parser::placeholder(num)
}

/// Writes a JSON value as MessagePack the way `notepack.io` writes the JavaScript value it stands
/// for: placeholders become the binary data they point to (when there are attachments), numbers
/// with no fractional part are integers.
pub(crate) fn write_json(out: &mut Vec<u8>, value: &Value, attachments: &[Bytes]) {
    match value {
        Value::Null => out.push(0xc0),
        Value::Bool(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Number(n) => write_number(out, n),
        Value::String(s) => write_str(out, s),
        Value::Array(items) => {
            write_array_len(out, items.len());
            for item in items {
                write_json(out, item, attachments);
            }
        }
        Value::Object(map) => {
            if let Some(data) = attachment_for(map, attachments) {
                write_bin(out, data);
                return;
            }
            write_map_len(out, map.len());
            for (k, v) in map {
                write_str(out, k);
                write_json(out, v, attachments);
            }
        }
    }
}

fn attachment_for<'a>(map: &Map<String, Value>, attachments: &'a [Bytes]) -> Option<&'a Bytes> {
    if attachments.is_empty() || map.get("_placeholder") != Some(&Value::Bool(true)) {
        return None;
    }
    let num = map.get("num")?.as_u64()?;
    attachments.get(usize::try_from(num).ok()?)
}

fn write_number(out: &mut Vec<u8>, n: &Number) {
    if let Some(u) = n.as_u64() {
        let _ = rmp::encode::write_uint(out, u);
    } else if let Some(i) = n.as_i64() {
        let _ = rmp::encode::write_sint(out, i);
    } else if let Some(f) = n.as_f64() {
        // A JavaScript number with no fractional part is written as an integer by notepack.
        if f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 {
            let _ = rmp::encode::write_sint(out, f as i64);
        } else {
            let _ = rmp::encode::write_f64(out, f);
        }
    }
}

/// A string.
fn write_str(out: &mut Vec<u8>, s: &str) {
    // Writing into a Vec cannot fail.
    let _ = rmp::encode::write_str(out, s);
}

/// The header of an array of `len` items.
fn write_array_len(out: &mut Vec<u8>, len: usize) {
    let _ = rmp::encode::write_array_len(out, u32::try_from(len).unwrap_or(u32::MAX));
}

/// The header of a map of `len` entries.
fn write_map_len(out: &mut Vec<u8>, len: usize) {
    let _ = rmp::encode::write_map_len(out, u32::try_from(len).unwrap_or(u32::MAX));
}

/// Binary data.
fn write_bin(out: &mut Vec<u8>, data: &[u8]) {
    let _ = rmp::encode::write_bin(out, data);
}

/// Whether a JSON value holds a placeholder that points at one of the attachments.
pub(crate) fn has_binary(value: &Value, attachments: &[Bytes]) -> bool {
    if attachments.is_empty() {
        return false;
    }
    match value {
        Value::Array(items) => items.iter().any(|v| has_binary(v, attachments)),
        Value::Object(map) => {
            attachment_for(map, attachments).is_some()
                || map.values().any(|v| has_binary(v, attachments))
        }
        _ => false,
    }
}

/// Milliseconds since the epoch as JavaScript's `Date.prototype.toISOString` writes them.
pub(crate) fn iso_date(millis: i64) -> Option<String> {
    let (days, ms_of_day) = (millis.div_euclid(86_400_000), millis.rem_euclid(86_400_000));
    let (y, m, d) = civil_from_days(days);
    if !(0..=9999).contains(&y) {
        return None;
    }
    let secs = ms_of_day / 1000;
    Some(format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        ms_of_day % 1000
    ))
}

/// Milliseconds since the epoch as JavaScript's `Date.prototype.toString` writes them in UTC
/// (Node's `handshake.time`), e.g. `Thu Jan 01 1970 00:00:00 GMT+0000 (Coordinated Universal
/// Time)`.
pub(crate) fn js_date_string(millis: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = millis.div_euclid(86_400_000);
    let secs = millis.rem_euclid(86_400_000) / 1000;
    let (y, m, d) = civil_from_days(days);
    let weekday = DAYS
        .get(usize::try_from(days.rem_euclid(7)).unwrap_or(0))
        .copied()
        .unwrap_or("Thu");
    let month = MONTHS
        .get(usize::try_from(m.saturating_sub(1)).unwrap_or(0))
        .copied()
        .unwrap_or("Jan");
    format!(
        "{weekday} {month} {d:02} {y:04} {:02}:{:02}:{:02} GMT+0000 (Coordinated Universal Time)",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trips_json_with_binary() {
        let attachments = vec![Bytes::from_static(b"\x01\x02")];
        let value = json!(["ev", {"a": 1, "b": [true, null, "x", 1.5, -3]}, {"_placeholder": true, "num": 0}]);
        let mut out = Vec::new();
        write_json(&mut out, &value, &attachments);
        let decoded = decode_message(&out).unwrap();
        assert_eq!(decoded.value, value);
        assert_eq!(decoded.attachments, attachments);
    }

    #[test]
    fn integral_floats_are_integers() {
        let mut out = Vec::new();
        write_json(&mut out, &json!(2.0), &[]);
        assert_eq!(out, vec![0x02]);
    }

    #[test]
    fn hostile_input_is_an_error() {
        assert!(decode_message(&[0xdd, 0xff, 0xff, 0xff, 0xff]).is_err());
        assert!(decode_message(&[0xa5, b'a']).is_err());
        assert!(decode_message(b"{not json").is_err());
        assert!(decode_message(&[0x91; 4096]).is_err());
        assert!(decode_message(&[0x01, 0x02]).is_err());
    }

    #[test]
    fn dates_and_undefined() {
        // notepack's Date: timestamp 64 with 0 ns, 1 s after the epoch.
        let msg = [0x92, 0xd6, 0xff, 0, 0, 0, 1, 0xd4, 0x00, 0x00];
        let decoded = decode_message(&msg).unwrap();
        assert_eq!(decoded.value, json!(["1970-01-01T00:00:01.000Z", null]));
        assert_eq!(
            js_date_string(0),
            "Thu Jan 01 1970 00:00:00 GMT+0000 (Coordinated Universal Time)"
        );
        assert_eq!(
            iso_date(1_700_000_000_123).unwrap(),
            "2023-11-14T22:13:20.123Z"
        );
    }
}
