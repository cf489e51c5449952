//! One request's account of its output: lines assembled from the writes,
//! escaped and cut, and the budget they spend.

/// Longest line logged, in characters; a longer one is cut and marked `…`.
pub(super) const MAX_LINE_CHARS: usize = 4096;

/// Bytes of an unfinished line the host holds: enough for
/// [`MAX_LINE_CHARS`] characters of any width and one more, so a line cut
/// here is always long enough to be cut (and marked) when logged.
const MAX_PENDING_BYTES: usize = 4 * MAX_LINE_CHARS + 4;

/// Lines of output one request may log.
pub(super) const MAX_LINES: usize = 1000;

/// Bytes of output one request may log.
pub(super) const MAX_BYTES: usize = 128 * 1024;

/// Which of the guest's streams a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stream {
    Stdout = 0,
    Stderr = 1,
}

/// What one request's output adds to the log.
#[derive(Debug, PartialEq)]
pub(super) enum Entry {
    Line {
        stream: Stream,
        text: String,
    },
    /// The budget is spent: logged once, then everything is dropped.
    Truncated,
}

/// One request's output: the budget spent and each stream's unfinished
/// line.
pub(super) struct Account {
    /// Lines logged.
    pub(super) lines: usize,
    /// Bytes logged.
    bytes: usize,
    /// Whether the budget is spent (everything further is dropped).
    pub(super) truncated: bool,
    /// Each stream's unfinished line, at most `MAX_PENDING_BYTES`.
    pending: [Vec<u8>; 2],
}

impl Account {
    pub(super) fn new() -> Self {
        Self {
            lines: 0,
            bytes: 0,
            truncated: false,
            pending: [Vec::new(), Vec::new()],
        }
    }

    /// Takes `bytes` written to `stream`, logging each line they complete.
    pub(super) fn write(&mut self, stream: Stream, mut bytes: &[u8], emit: &mut impl FnMut(Entry)) {
        while !self.truncated {
            let (chunk, complete) = match bytes.iter().position(|b| *b == b'\n') {
                Some(at) => (&bytes[..at], Some(at + 1)),
                None => (bytes, None),
            };
            let pending = &mut self.pending[stream as usize];
            let room = MAX_PENDING_BYTES.saturating_sub(pending.len());
            pending.extend_from_slice(&chunk[..chunk.len().min(room)]);
            let Some(rest) = complete else {
                return;
            };
            let line = std::mem::take(pending);
            self.log(stream, line, emit);
            bytes = &bytes[rest..];
        }
    }

    /// Logs the unfinished lines.
    pub(super) fn finish(&mut self, emit: &mut impl FnMut(Entry)) {
        for stream in [Stream::Stdout, Stream::Stderr] {
            let line = std::mem::take(&mut self.pending[stream as usize]);
            if !line.is_empty() {
                self.log(stream, line, emit);
            }
        }
    }

    fn log(&mut self, stream: Stream, mut line: Vec<u8>, emit: &mut impl FnMut(Entry)) {
        if self.truncated {
            return;
        }
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        // A blank line says nothing in a log (a Rust panic message starts
        // with one), so it costs no budget either.
        if line.is_empty() {
            return;
        }
        if self.lines >= MAX_LINES || self.bytes + line.len() > MAX_BYTES {
            self.truncated = true;
            self.pending = [Vec::new(), Vec::new()];
            emit(Entry::Truncated);
            return;
        }
        self.lines += 1;
        self.bytes += line.len();
        let text = String::from_utf8_lossy(&line);
        let text = strata_logtext::bounded(&text, MAX_LINE_CHARS).into_owned();
        emit(Entry::Line { stream, text });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logged(writes: &[(Stream, &[u8])]) -> Vec<Entry> {
        let mut account = Account::new();
        let mut entries = Vec::new();
        for (stream, bytes) in writes {
            account.write(*stream, bytes, &mut |e| entries.push(e));
        }
        account.finish(&mut |e| entries.push(e));
        entries
    }

    fn line(stream: Stream, text: &str) -> Entry {
        Entry::Line {
            stream,
            text: text.into(),
        }
    }

    #[test]
    fn each_line_is_logged_once_complete_blank_ones_skipped_and_the_tail_at_the_end() {
        let entries = logged(&[
            (Stream::Stdout, b"one\ntw"),
            (Stream::Stderr, b"\nerr\r\n\r\n"),
            (Stream::Stdout, b"o\nthree"),
        ]);
        assert_eq!(
            entries,
            vec![
                line(Stream::Stdout, "one"),
                line(Stream::Stderr, "err"),
                line(Stream::Stdout, "two"),
                line(Stream::Stdout, "three"),
            ]
        );
    }

    #[test]
    fn control_characters_are_escaped() {
        let entries = logged(&[(Stream::Stdout, b"a\x1b[2Jb\rc\n")]);
        assert_eq!(entries, vec![line(Stream::Stdout, "a\\u{1b}[2Jb\\rc")]);
    }

    #[test]
    fn a_long_line_is_cut_and_marked_and_the_next_one_kept() {
        let mut long = vec![b'y'; 100_000];
        long.extend_from_slice(b"\nnext\n");
        let entries = logged(&[(Stream::Stdout, &long)]);
        let Entry::Line { text, .. } = &entries[0] else {
            panic!("{entries:?}");
        };
        assert_eq!(text.chars().count(), MAX_LINE_CHARS + 1);
        assert!(text.ends_with('…'));
        assert_eq!(entries[1], line(Stream::Stdout, "next"));
    }

    #[test]
    fn the_unfinished_line_held_is_bounded() {
        let mut account = Account::new();
        for _ in 0..1000 {
            account.write(Stream::Stdout, &[b'z'; 1024], &mut |_| {});
        }
        assert!(account.pending[0].len() <= MAX_PENDING_BYTES);
    }

    #[test]
    fn past_the_line_budget_one_note_is_logged_and_the_rest_dropped() {
        let flood = b"x\n".repeat(MAX_LINES * 3);
        let entries = logged(&[(Stream::Stdout, &flood), (Stream::Stderr, b"late\n")]);
        assert_eq!(entries.len(), MAX_LINES + 1);
        assert_eq!(entries[MAX_LINES], Entry::Truncated);
    }

    #[test]
    fn past_the_byte_budget_one_note_is_logged() {
        let line_of_1k = [vec![b'k'; 1023], vec![b'\n']].concat();
        let flood = line_of_1k.repeat(MAX_BYTES / 1024 * 2);
        let entries = logged(&[(Stream::Stdout, &flood)]);
        let lines = entries.len() - 1;
        assert!(lines * 1023 <= MAX_BYTES && lines < MAX_LINES, "{lines}");
        assert_eq!(entries.last(), Some(&Entry::Truncated));
    }
}
