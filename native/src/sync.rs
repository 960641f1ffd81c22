//! One venue market's book and the venue's sync rules: the twin of `connectors/base.py`'s
//! `BookSyncBase` and of the venue modules' `BookSync` classes. Reasons are worded exactly
//! as the Python ones, so that a dead letter reads the same whichever core wrote it.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::book::{Book, Level};

const MAX_PENDING: usize = 10_000;

#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Debug)]
pub enum Venue {
    Binance,
    Bitfinex,
    Bybit,
    Coinbase,
    Htx,
    Kraken,
    Okx,
}

impl Venue {
    /// Every venue the core keeps books of: the list Python reads as `_native.VENUES`.
    pub const ALL: [Venue; 7] =
        [Venue::Binance, Venue::Bitfinex, Venue::Bybit, Venue::Coinbase, Venue::Htx, Venue::Kraken, Venue::Okx];

    /// The venue's id in the raw-message contract (CAPTURE.md, `cobflow.venues`).
    pub fn id(self) -> &'static str {
        match self {
            Venue::Binance => "binance",
            Venue::Bitfinex => "bitfinex",
            Venue::Bybit => "bybit",
            Venue::Coinbase => "coinbase",
            Venue::Htx => "htx",
            Venue::Kraken => "kraken",
            Venue::Okx => "okx",
        }
    }

    pub fn from_id(id: &str) -> Option<Venue> {
        Venue::ALL.into_iter().find(|v| v.id() == id)
    }

    /// Deltas before the first snapshot are kept and replayed onto it (REST snapshots).
    fn buffers_before_snapshot(self) -> bool {
        matches!(self, Venue::Binance | Venue::Htx)
    }

    /// The checksum needs each level as printed (one token per level).
    pub fn tokenized(self) -> bool {
        matches!(self, Venue::Okx | Venue::Bitfinex | Venue::Kraken)
    }
}

/// A book frame, normalized: the twin of `BookSnapshot` / `BookDelta`.
#[derive(Clone, Serialize, Deserialize, Default)]
pub struct BookEvent {
    pub snapshot: bool,
    pub bids: Vec<Level>,
    pub asks: Vec<Level>,
    pub bid_tokens: Option<Vec<String>>,
    pub ask_tokens: Option<Vec<String>>,
    pub seq: Option<i64>,
    pub prev_seq: Option<i64>,
    pub checksum: Option<i64>,
    pub depth: Option<usize>,
}

#[derive(Clone, Default, Serialize, Deserialize)]
pub struct Health {
    pub snapshots: u64,
    pub updates: u64,
    pub gaps: u64,
    pub checksum_checks: u64,
    pub checksum_failures: u64,
    pub resyncs: u64,
    pub malformed: u64,
}

#[derive(Clone, Serialize, Deserialize)]
pub struct Engine {
    pub venue: Venue,
    pub book: Book,
    pub synced: bool,
    pub health: Health,
    seq: Option<i64>,
    depth: Option<usize>,
    lost: bool,
    first: bool, // REST-snapshot venues: the next applied diff is the first after the snapshot
    pending: VecDeque<BookEvent>,
    /// (price, size) decimals the checksum prints levels with (Kraken v2), and whether an
    /// instrument frame said them (else they were inferred from a snapshot's text)
    #[serde(default)]
    precision: Option<(u32, u32)>,
    #[serde(default)]
    precision_known: bool,
}

fn opt(v: Option<i64>) -> String {
    v.map_or_else(|| "None".to_string(), |x| x.to_string())
}

impl Engine {
    pub fn new(venue: Venue) -> Self {
        let mut book = Book::new();
        if venue.tokenized() {
            book.bids.tokens = Some(Vec::new());
            book.asks.tokens = Some(Vec::new());
        }
        Engine {
            venue,
            book,
            synced: false,
            health: Health::default(),
            seq: None,
            depth: None,
            lost: false,
            first: false,
            pending: VecDeque::new(),
            precision: None,
            precision_known: false,
        }
    }

    /// Apply one book event; the reason when it broke the sync.
    pub fn apply(&mut self, ev: BookEvent) -> Option<String> {
        if ev.snapshot {
            self.snapshot(ev)
        } else {
            self.delta(ev)
        }
    }

    /// The pair's decimals (Kraken): an inferred value does not override a known one; a
    /// change prints every level of a synced book anew.
    pub fn set_precision(&mut self, price: u32, size: u32, inferred: bool) {
        if inferred && self.precision_known {
            return;
        }
        let changed = self.precision != Some((price, size));
        self.precision = Some((price, size));
        self.precision_known = !inferred;
        if changed && self.synced {
            for side in [&mut self.book.bids, &mut self.book.asks] {
                let tokens = side.prices.iter().zip(&side.sizes).map(|(&p, &q)| kraken_token(p, q, (price, size))).collect();
                side.tokens = Some(tokens);
            }
        }
    }

    /// Kraken v2 levels come without tokens: they are printed with the pair's decimals.
    fn fill_tokens(&self, ev: &mut BookEvent) {
        if self.venue != Venue::Kraken || ev.bid_tokens.is_some() {
            return;
        }
        let prec = self.precision.unwrap_or((0, 0)); // Python: a snapshot always brings one
        let tok = |lv: &[Level]| lv.iter().map(|&(p, q)| if q > 0.0 { kraken_token(p, q, prec) } else { String::new() }).collect();
        ev.bid_tokens = Some(tok(&ev.bids));
        ev.ask_tokens = Some(tok(&ev.asks));
    }

    fn snapshot(&mut self, mut snap: BookEvent) -> Option<String> {
        self.fill_tokens(&mut snap);
        if snap.depth.is_some() {
            self.depth = snap.depth;
        }
        self.book.bids.load(&snap.bids, snap.bid_tokens);
        self.book.asks.load(&snap.asks, snap.ask_tokens);
        self.seq = snap.seq;
        if self.lost {
            self.health.resyncs += 1;
            self.lost = false;
        }
        self.synced = true;
        self.health.snapshots += 1;
        self.first = true;
        if let Some(expected) = snap.checksum {
            if let Some(reason) = self.verify(expected) {
                return Some(format!("snapshot: {reason}"));
            }
        }
        let pending = std::mem::take(&mut self.pending);
        for delta in pending {
            if let Some(reason) = self.delta(delta) {
                return Some(format!(
                    "buffered deltas do not connect to the snapshot at seq={}: {reason}",
                    opt(snap.seq)
                ));
            }
        }
        None
    }

    fn delta(&mut self, delta: BookEvent) -> Option<String> {
        if !self.synced {
            if self.venue.buffers_before_snapshot() {
                if self.pending.len() == MAX_PENDING {
                    self.pending.pop_front();
                }
                self.pending.push_back(delta);
            }
            return None;
        }
        if self.contained(&delta) {
            return None;
        }
        if let Some(reason) = self.breaks_sequence(&delta) {
            self.mark_lost();
            self.health.gaps += 1;
            return Some(format!("sequence gap: {reason}"));
        }
        let mut delta = delta;
        self.fill_tokens(&mut delta);
        self.book.bids.apply(&delta.bids, delta.bid_tokens.as_deref());
        self.book.asks.apply(&delta.asks, delta.ask_tokens.as_deref());
        if let Some(depth) = self.depth {
            while self.book.bids.len() > depth {
                self.book.bids.pop_worst();
            }
            while self.book.asks.len() > depth {
                self.book.asks.pop_worst();
            }
        }
        if delta.seq.is_some() {
            self.seq = delta.seq;
        }
        self.health.updates += 1;
        self.first = false;
        match delta.checksum {
            Some(expected) => self.verify(expected),
            None => None,
        }
    }

    fn contained(&self, delta: &BookEvent) -> bool {
        match self.venue {
            Venue::Binance | Venue::Htx => matches!((delta.seq, self.seq), (Some(d), Some(s)) if d <= s),
            _ => false,
        }
    }

    fn breaks_sequence(&self, delta: &BookEvent) -> Option<String> {
        match self.venue {
            Venue::Binance => {
                let (Some(prev), Some(last), Some(seq)) = (delta.prev_seq, delta.seq, self.seq) else {
                    return None;
                };
                let (first, expected) = (prev + 1, seq + 1);
                if (self.first && first <= expected && expected <= last) || (!self.first && first == expected) {
                    return None;
                }
                let rule = if self.first { format!("U <= {expected} <= u") } else { format!("U == {expected}") };
                Some(format!("expected {rule}, got U={first} u={last}"))
            }
            Venue::Bybit => {
                let (Some(seq), Some(dseq)) = (self.seq, delta.seq) else { return None };
                match delta.prev_seq {
                    Some(prev) if prev != seq => Some(format!("expected u={}, got u={dseq}", seq + 1)),
                    Some(_) => None,
                    None if dseq < seq => Some(format!("cross_seq went back from {seq} to {dseq}")),
                    None => None,
                }
            }
            Venue::Bitfinex => match (delta.seq, self.seq) {
                (Some(d), Some(s)) if d <= s => Some(format!("sequence went from {s} to {d}")),
                _ => None,
            },
            Venue::Htx if delta.prev_seq != self.seq => Some(format!(
                "expected prevSeqNum={}, got prevSeqNum={} seqNum={}",
                opt(self.seq),
                opt(delta.prev_seq),
                opt(delta.seq)
            )),
            Venue::Htx => None,
            Venue::Kraken => None, // no sequence numbers: each update's checksum is the check
            Venue::Coinbase => match (delta.seq, self.seq) {
                (Some(d), Some(s)) if d <= s => Some(format!("sequence_num went from {s} to {d}")),
                _ => None,
            },
            Venue::Okx => {
                let (Some(prev), Some(seq)) = (delta.prev_seq, self.seq) else { return None };
                if prev != seq {
                    return Some(format!(
                        "expected prevSeqId={seq}, got prevSeqId={prev} seqId={}",
                        opt(delta.seq)
                    ));
                }
                None
            }
        }
    }

    fn checksum(&self) -> i64 {
        match self.venue {
            Venue::Okx | Venue::Bitfinex => interleaved_checksum(&self.book.bids.top_tokens(25), &self.book.asks.top_tokens(25)),
            Venue::Kraken => {
                // the best 10 asks, then the best 10 bids; unsigned
                let mut h = crc32fast::Hasher::new();
                for t in self.book.asks.top_tokens(10).into_iter().chain(self.book.bids.top_tokens(10)) {
                    h.update(t.as_bytes());
                }
                h.finalize() as i64
            }
            _ => 0,
        }
    }

    fn verify(&mut self, expected: i64) -> Option<String> {
        self.health.checksum_checks += 1;
        let got = self.checksum();
        if got == expected {
            return None;
        }
        self.health.checksum_failures += 1;
        self.mark_lost();
        Some(format!("checksum mismatch: the venue says {expected}, our book gives {got}"))
    }

    fn mark_lost(&mut self) {
        self.synced = false;
        self.lost = true;
        self.seq = None;
        self.book.clear();
    }
}

/// Kraken's token of a level: price and size printed with the pair's decimals, each with
/// the decimal point and leading zeros removed.
pub fn kraken_token(price: f64, size: f64, (pd, sd): (u32, u32)) -> String {
    let mut t = kraken_digits(&format!("{price:.*}", pd as usize));
    t.push_str(&kraken_digits(&format!("{size:.*}", sd as usize)));
    t
}

/// "0.00100" -> "100": the decimal point and leading zeros removed (tokens as sent, v1).
pub fn kraken_digits(text: &str) -> String {
    text.replace('.', "").trim_start_matches('0').to_string()
}

/// The signed CRC32 of "bid1:ask1:bid2:ask2:..." (then the longer side's rest): OKX, Bitfinex.
pub fn interleaved_checksum(bids: &[&str], asks: &[&str]) -> i64 {
    let mut h = crc32fast::Hasher::new();
    let n = bids.len().max(asks.len());
    let mut first = true;
    for i in 0..n {
        for side in [bids, asks] {
            if let Some(t) = side.get(i) {
                if !first {
                    h.update(b":");
                }
                h.update(t.as_bytes());
                first = false;
            }
        }
    }
    let v = h.finalize() as i64;
    if v >= 1 << 31 { v - (1 << 32) } else { v }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delta(prev: i64, seq: i64, bids: Vec<Level>) -> BookEvent {
        BookEvent { bids, seq: Some(seq), prev_seq: Some(prev), ..Default::default() }
    }

    #[test]
    fn venue_ids_read_back() {
        for v in Venue::ALL {
            assert!(Venue::from_id(v.id()) == Some(v));
        }
        assert!(Venue::from_id("kucoin").is_none());
    }

    #[test]
    fn a_binance_book_syncs_on_its_snapshot_and_is_lost_on_a_gap() {
        let mut e = Engine::new(Venue::Binance);
        // a diff before the REST snapshot is buffered, then applied onto it (U <= 11 <= u)
        assert_eq!(e.apply(delta(9, 11, vec![(100.0, 5.0)])), None);
        assert!(!e.synced);
        let snap = BookEvent { snapshot: true, bids: vec![(100.0, 1.0), (99.0, 2.0)], asks: vec![(101.0, 3.0)],
                               seq: Some(10), ..Default::default() };
        assert_eq!(e.apply(snap), None);
        assert!(e.synced);
        assert_eq!(e.book.bids.best(), Some((100.0, 5.0)));
        assert_eq!(e.apply(delta(11, 12, vec![(99.0, 0.0)])), None);
        assert_eq!(e.book.bids.prices, vec![100.0]);
        // U = 14 after u = 12: updates 13 are missing
        let reason = e.apply(delta(13, 14, vec![(98.0, 1.0)]));
        assert!(reason.is_some());
        assert!(!e.synced);
        assert_eq!(e.health.gaps, 1);
    }

    #[test]
    fn the_interleaved_checksum_is_the_signed_crc32_of_the_tokens() {
        // zlib.crc32(b"100:101:99.5:102") = 753166336, below 2^31 so positive
        assert_eq!(interleaved_checksum(&["100", "99.5"], &["101", "102"]), 753166336);
        // the longer side's rest follows: "1:2:3"
        let crc = crc32fast::hash(b"1:2:3") as i64;
        let signed = if crc >= 1 << 31 { crc - (1 << 32) } else { crc };
        assert_eq!(interleaved_checksum(&["1", "3"], &["2"]), signed);
    }

    #[test]
    fn kraken_tokens_drop_the_point_and_leading_zeros() {
        assert_eq!(kraken_digits("0.00100"), "100");
        assert_eq!(kraken_token(101.5, 0.25, (2, 8)), "1015025000000");
    }
}
