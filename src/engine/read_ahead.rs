//! A connection that reads many bytes per system call without keeping a large buffer while idle.
//!
//! tungstenite reads into a buffer that lives as long as the connection, and asks for at most
//! that buffer's size per read: a large one costs every idle WebSocket its size, a small one
//! costs a system call per few hundred bytes. Under a small buffer, this reads up to
//! [`CHUNK`] bytes at once into the stack and keeps what the caller had no room for on the
//! heap only until it is taken: an idle connection holds nothing here.

use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The most one system call reads.
const CHUNK: usize = 8 * 1024;

/// `io` with read-ahead.
pub(crate) struct ReadAhead<S> {
    io: S,
    /// Bytes read and not taken yet, from `at`; empty (and unallocated) once taken.
    ahead: Vec<u8>,
    at: usize,
}

impl<S> ReadAhead<S> {
    pub(crate) fn new(io: S) -> Self {
        ReadAhead {
            io,
            ahead: Vec::new(),
            at: 0,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for ReadAhead<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.at < this.ahead.len() {
            let n = buf.remaining().min(this.ahead.len() - this.at);
            buf.put_slice(&this.ahead[this.at..this.at + n]);
            this.at += n;
            if this.at == this.ahead.len() {
                this.ahead = Vec::new();
                this.at = 0;
            }
            return Poll::Ready(Ok(()));
        }
        if buf.remaining() >= CHUNK {
            return Pin::new(&mut this.io).poll_read(cx, buf);
        }
        let mut chunk = [MaybeUninit::<u8>::uninit(); CHUNK];
        let mut chunk = ReadBuf::uninit(&mut chunk);
        ready!(Pin::new(&mut this.io).poll_read(cx, &mut chunk))?;
        let read = chunk.filled();
        let n = buf.remaining().min(read.len());
        buf.put_slice(&read[..n]);
        if n < read.len() {
            this.ahead = read[n..].to_vec();
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for ReadAhead<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, data)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn small_reads_take_a_large_write_in_order_and_keep_nothing() {
        let (mut tx, rx) = tokio::io::duplex(64 * 1024);
        let sent: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
        tx.write_all(&sent).await.unwrap();
        drop(tx);
        let mut rx = ReadAhead::new(rx);
        let mut got = Vec::new();
        let mut small = [0u8; 100];
        loop {
            let n = rx.read(&mut small).await.unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&small[..n]);
            if rx.at == rx.ahead.len() {
                assert_eq!(rx.ahead.capacity(), 0, "nothing kept once taken");
            }
        }
        assert_eq!(got, sent);
    }

    #[tokio::test]
    async fn a_large_read_goes_straight_through() {
        let (mut tx, rx) = tokio::io::duplex(64 * 1024);
        tx.write_all(&[7u8; 10_000]).await.unwrap();
        let mut rx = ReadAhead::new(rx);
        let mut large = vec![0u8; CHUNK];
        let n = rx.read(&mut large).await.unwrap();
        assert_eq!(n, CHUNK);
        assert!(rx.ahead.is_empty());
    }
}
