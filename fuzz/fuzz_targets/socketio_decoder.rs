//! A sequence of Engine.IO messages reaching one client's Socket.IO decoder: text packets and
//! the binary attachments that follow binary packets, reassembled.
//!
//! Input format: messages separated by the byte 0xFF (never valid in UTF-8); a message that
//! starts with 0xFE is binary (the rest of it is the attachment), any other is text (skipped
//! unless UTF-8). After an error the client's connection is closed, so decoding stops there,
//! as in the server.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use tower_socketio::parser::{Decoder, PacketType};

fuzz_target!(|data: &[u8]| {
    let mut decoder = Decoder::new(10);
    for message in data.split(|&b| b == 0xff) {
        let result = match message.split_first() {
            Some((0xfe, attachment)) => decoder.decode_binary(Bytes::copy_from_slice(attachment)),
            _ => match std::str::from_utf8(message) {
                Ok(text) => decoder.decode_text(text),
                Err(_) => continue,
            },
        };
        match result {
            Ok(Some(packet)) => {
                let binary = matches!(packet.kind, PacketType::BinaryEvent | PacketType::BinaryAck);
                assert!(
                    binary || packet.attachments.is_empty(),
                    "attachments on a {:?} packet",
                    packet.kind
                );
                assert!(packet.attachments.len() <= 10);
                assert!(packet.id.is_none_or(|id| id < 1 << 53));
            }
            Ok(None) => assert!(decoder.is_reconstructing()),
            Err(_) => return,
        }
    }
});
