//! Frames cut on the socket thread: a stream whose frames go straight to a service.
//!
//! skynet's framing (`netpack`): a 2-byte big-endian length, then that many bytes. A gate that
//! forwards a connection to an agent asks the server to cut that connection's stream here, so
//! each frame reaches the agent as one `PTYPE_CLIENT` message without passing through the gate
//! service (one message and one Lua dispatch fewer per frame, as skynet's C gate once did).
//! The gate still gets every other event of the socket (CLOSE, ERROR, WARNING).

/// The frame cutter of one forwarded stream.
///
/// Invariant: `partial` holds the start of an incomplete frame (its header included, or one
/// byte of it), never a whole frame.
pub(crate) struct Framer {
    /// Where frames go, and the source and session they carry.
    pub(crate) to: u32,
    pub(crate) source: u32,
    partial: Vec<u8>,
}

impl Framer {
    pub(crate) fn new(to: u32, source: u32) -> Framer {
        Framer { to, source, partial: Vec::new() }
    }

    /// Cuts `data` (after what was left from the last read) into frames, handing each one's
    /// bytes to `out`; keeps the incomplete rest. A read that is exactly one frame (the usual
    /// case) becomes that frame's payload in place, without a new allocation.
    pub(crate) fn feed(&mut self, mut data: Vec<u8>, mut out: impl FnMut(Vec<u8>)) {
        if self.partial.is_empty() {
            if data.len() >= 2 && data.len() == frame_len(&data) + 2 {
                data.drain(..2);
                out(data);
                return;
            }
            self.cut(&data, out);
        } else {
            let mut bytes = std::mem::take(&mut self.partial);
            bytes.extend_from_slice(&data);
            self.cut(&bytes, out);
        }
    }

    /// Hands out every whole frame of `bytes` and keeps the rest in `partial` (empty here).
    fn cut(&mut self, bytes: &[u8], mut out: impl FnMut(Vec<u8>)) {
        let mut at = 0;
        while bytes.len() - at >= 2 {
            let end = at + 2 + frame_len(&bytes[at..]);
            if end > bytes.len() {
                break;
            }
            out(bytes[at + 2..end].to_vec());
            at = end;
        }
        self.partial.extend_from_slice(&bytes[at..]);
    }

    /// The bytes of the incomplete frame, for whoever reads the stream next.
    pub(crate) fn into_partial(self) -> Vec<u8> {
        self.partial
    }
}

/// The length a frame's 2-byte header announces.
fn frame_len(bytes: &[u8]) -> usize {
    usize::from(u16::from_be_bytes([bytes[0], bytes[1]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(body: &[u8]) -> Vec<u8> {
        let mut f = (body.len() as u16).to_be_bytes().to_vec();
        f.extend_from_slice(body);
        f
    }

    fn feed(framer: &mut Framer, data: &[u8]) -> Vec<Vec<u8>> {
        let mut got = Vec::new();
        framer.feed(data.to_vec(), |f| got.push(f));
        got
    }

    #[test]
    fn frames_are_cut_across_and_within_reads() {
        let mut f = Framer::new(1, 0);
        assert_eq!(feed(&mut f, &frame(b"one")), [b"one".to_vec()]);
        let stream = [frame(b"two"), frame(b""), frame(&[7; 300]), frame(b"last")].concat();
        // Every split of the stream gives the same frames.
        for cut in 0..stream.len() {
            let mut got = feed(&mut f, &stream[..cut]);
            got.extend(feed(&mut f, &stream[cut..]));
            assert_eq!(got, [b"two".to_vec(), Vec::new(), vec![7; 300], b"last".to_vec()], "cut {cut}");
            assert!(f.partial.is_empty());
        }
        // A byte at a time.
        let mut got = Vec::new();
        for b in &stream {
            got.extend(feed(&mut f, &[*b]));
        }
        assert_eq!(got.len(), 4);
        // What is left goes back to the stream's next reader whole, header included.
        assert!(feed(&mut f, &frame(b"unfinished")[..5]).is_empty());
        assert_eq!(f.into_partial(), frame(b"unfinished")[..5]);
    }
}
