//! An L2 book side as two sorted vectors (prices ascending, sizes aligned), plus optional
//! checksum tokens aligned with them: the twin of `cobflow/book.py`'s `BookSide`.

use serde::{Deserialize, Serialize};

pub type Level = (f64, f64);

#[derive(Clone, Default, Serialize, Deserialize)]
pub struct Side {
    pub is_bid: bool,
    pub prices: Vec<f64>,
    pub sizes: Vec<f64>,
    pub tokens: Option<Vec<String>>,
}

fn find(prices: &[f64], price: f64) -> Result<usize, usize> {
    // prices are finite (checked at parse), so partial_cmp is a total order here
    prices.binary_search_by(|p| p.partial_cmp(&price).unwrap())
}

impl Side {
    pub fn new(is_bid: bool) -> Self {
        Side { is_bid, ..Default::default() }
    }

    /// Replace the side (a snapshot): levels of size 0 are not stored; of repeated prices
    /// the last positive one wins (as a Python dict built from the levels would keep it).
    pub fn load(&mut self, levels: &[Level], tokens: Option<Vec<String>>) {
        let mut idx: Vec<usize> = (0..levels.len()).filter(|&i| levels[i].1 > 0.0).collect();
        idx.sort_by(|&a, &b| levels[a].0.partial_cmp(&levels[b].0).unwrap()); // stable
        let mut keep: Vec<usize> = Vec::with_capacity(idx.len());
        for i in idx {
            match keep.last_mut() {
                Some(last) if levels[*last].0 == levels[i].0 => *last = i,
                _ => keep.push(i),
            }
        }
        self.prices = keep.iter().map(|&i| levels[i].0).collect();
        self.sizes = keep.iter().map(|&i| levels[i].1).collect();
        self.tokens = tokens.map(|t| keep.iter().map(|&i| t[i].clone()).collect());
    }

    /// Set each level's absolute size; size 0 removes the level.
    pub fn apply(&mut self, levels: &[Level], tokens: Option<&[String]>) {
        for (j, &(price, size)) in levels.iter().enumerate() {
            match find(&self.prices, price) {
                Ok(i) => {
                    if size > 0.0 {
                        self.sizes[i] = size;
                        if let (Some(t), Some(new)) = (self.tokens.as_mut(), tokens) {
                            t[i] = new[j].clone();
                        }
                    } else {
                        self.prices.remove(i);
                        self.sizes.remove(i);
                        if let Some(t) = self.tokens.as_mut() {
                            t.remove(i);
                        }
                    }
                }
                Err(i) => {
                    if size > 0.0 {
                        self.prices.insert(i, price);
                        self.sizes.insert(i, size);
                        if let (Some(t), Some(new)) = (self.tokens.as_mut(), tokens) {
                            t.insert(i, new[j].clone());
                        }
                    }
                }
            }
        }
    }

    pub fn clear(&mut self) {
        self.prices.clear();
        self.sizes.clear();
        if let Some(t) = self.tokens.as_mut() {
            t.clear();
        }
    }

    pub fn len(&self) -> usize {
        self.prices.len()
    }

    /// Drop the worst level (the lowest bid, the highest ask).
    pub fn pop_worst(&mut self) {
        let i = if self.is_bid { 0 } else { self.prices.len() - 1 };
        self.prices.remove(i);
        self.sizes.remove(i);
        if let Some(t) = self.tokens.as_mut() {
            t.remove(i);
        }
    }

    /// The tokens of the best n levels, best first.
    pub fn top_tokens(&self, n: usize) -> Vec<&str> {
        let t = match &self.tokens {
            Some(t) => t,
            None => return Vec::new(),
        };
        let n = n.min(t.len());
        if self.is_bid {
            t[t.len() - n..].iter().rev().map(|s| s.as_str()).collect()
        } else {
            t[..n].iter().map(|s| s.as_str()).collect()
        }
    }

    pub fn best(&self) -> Option<Level> {
        if self.prices.is_empty() {
            return None;
        }
        let i = if self.is_bid { self.prices.len() - 1 } else { 0 };
        Some((self.prices[i], self.sizes[i]))
    }
}

#[derive(Clone, Serialize, Deserialize)]
pub struct Book {
    pub bids: Side,
    pub asks: Side,
}

impl Book {
    pub fn new() -> Self {
        Book { bids: Side::new(true), asks: Side::new(false) }
    }

    pub fn clear(&mut self) {
        self.bids.clear();
        self.asks.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_keeps_positive_levels_sorted_the_last_repeat_winning() {
        let mut bids = Side::new(true);
        bids.load(&[(100.0, 1.0), (99.0, 0.0), (101.0, 2.0), (100.0, 3.0)], None);
        assert_eq!(bids.prices, vec![100.0, 101.0]);
        assert_eq!(bids.sizes, vec![3.0, 2.0]);
        assert_eq!(bids.best(), Some((101.0, 2.0)));
        let mut asks = Side::new(false);
        asks.load(&[(102.0, 1.0), (101.5, 4.0)], None);
        assert_eq!(asks.best(), Some((101.5, 4.0)));
    }

    #[test]
    fn a_delta_sets_absolute_sizes_and_zero_removes_with_its_token() {
        let mut s = Side::new(false);
        s.load(&[(10.0, 1.0), (11.0, 1.0)], Some(vec!["a".into(), "b".into()]));
        s.apply(&[(10.0, 0.0), (12.0, 5.0), (11.0, 2.0)], Some(&["x".into(), "c".into(), "d".into()]));
        assert_eq!(s.prices, vec![11.0, 12.0]);
        assert_eq!(s.sizes, vec![2.0, 5.0]);
        assert_eq!(s.tokens, Some(vec!["d".to_string(), "c".to_string()]));
        assert_eq!(s.top_tokens(1), vec!["d"]);
    }
}
