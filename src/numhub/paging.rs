//! Walking NumHub's paged lists so that no server reading truncates a walk or loops it.
//!
//! The document pages two lists: the attestation list answers `totalCount`, `pageNumber`
//! and `pageSize`; the display-identity list is a bare array. It does not say whether
//! NumHub honours the `pageSize` asked for or caps it, nor that `pageNumber` is always
//! honoured. So every paging loop asks [`Pager`] for the next page and hands it each
//! answer, and the pager:
//! - counts what a page held, never what was asked: a short page is the last only when
//!   the list's `totalCount` says so, or (no metadata) when it is shorter than what the
//!   server is known to serve ([`PageMemory`]); otherwise the next page is asked for;
//! - stops when a page brings nothing new (the server answered the same page again); if
//!   the list may hold more, it asks page 1 once more with a page big enough for all of
//!   it (`totalCount`, else twice the size), as a server that ignores `pageNumber` can
//!   only be read that way;
//! - never walks more pages than `totalCount` allows (at the smallest page served) plus
//!   one, and without a `totalCount` only while each page brings something new, so a
//!   walk always ends. A walk stopped before `totalCount` is logged.

use std::collections::HashSet;

use uuid::Uuid;

use super::model::AttestationPage;

/// What every walk asks for first (the document names no limit).
pub const PAGE_SIZE: i32 = 100;

/// The largest page asked for of a server that ignores `pageNumber`.
const LARGEST_ASK: i32 = 10_000;

/// One page to ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ask {
    pub page_number: i32,
    pub page_size: i32,
}

/// What an answer said about its paging, where it said anything.
#[derive(Debug, Clone, Copy, Default)]
pub struct Meta {
    pub total_count: Option<i32>,
    pub page_size: Option<i32>,
}

impl From<&AttestationPage> for Meta {
    fn from(page: &AttestationPage) -> Meta {
        Meta {
            total_count: page.total_count,
            page_size: page.page_size,
        }
    }
}

/// What earlier walks of a list without paging metadata taught about the server's page
/// size (the poller keeps one per tenant, forgotten at each full sweep), so a short
/// page is known to be the last without asking for the empty one after it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PageMemory {
    /// A short page was followed by more: the server serves this many a page.
    served: Option<usize>,
    /// A page of this many was the last: the server serves at least this many, so a
    /// shorter page is the last one.
    floor: usize,
}

/// One walk over a paged list.
pub struct Pager {
    list: &'static str,
    memory: PageMemory,
    next: Option<Ask>,
    seen: HashSet<Uuid>,
    pages: u32,
    /// The first page's length: what a page of this server holds, for the page cap.
    first_len: Option<usize>,
    /// The length of a short page whose follower tells whether the server capped it.
    probing: Option<usize>,
    /// A later page brought nothing new: the server answers page 1 whatever is asked.
    ignores_page_number: bool,
    /// The last `totalCount` the list gave.
    total: Option<usize>,
}

impl Pager {
    pub fn new(list: &'static str, memory: PageMemory) -> Pager {
        Pager {
            list,
            memory,
            next: Some(Ask {
                page_number: 1,
                page_size: PAGE_SIZE,
            }),
            seen: HashSet::new(),
            pages: 0,
            first_len: None,
            probing: None,
            ignores_page_number: false,
            total: None,
        }
    }

    /// After the walk: `(items seen, totalCount)` when it ended short of the list's
    /// `totalCount` (a server both capping pages and ignoring `pageNumber`), so a caller
    /// that must see everything can tell "not found" from "not read".
    pub fn short_of_total(&self) -> Option<(usize, usize)> {
        self.total
            .filter(|&t| self.seen.len() < t)
            .map(|t| (self.seen.len(), t))
    }

    /// The page to ask for next; `None` when the walk is over.
    pub fn next_ask(&self) -> Option<Ask> {
        self.next
    }

    /// What this walk taught, for the next walk of the same list.
    pub fn memory(&self) -> PageMemory {
        self.memory
    }

    /// Takes the answer to [`Pager::next_ask`]; returns the items not seen earlier in
    /// this walk (items without an id are dropped: nothing can be done with them).
    pub fn take<T>(
        &mut self,
        items: Vec<T>,
        id: impl Fn(&T) -> Option<Uuid>,
        meta: Meta,
    ) -> Vec<T> {
        let Some(ask) = self.next.take() else {
            return Vec::new();
        };
        self.pages += 1;
        let len = items.len();
        let fresh: Vec<T> = items
            .into_iter()
            .filter(|item| id(item).is_some_and(|k| self.seen.insert(k)))
            .collect();
        let total = meta
            .total_count
            .and_then(|t| usize::try_from(t).ok())
            .filter(|&t| t >= self.seen.len());
        self.total = total.or(self.total);
        if self.first_len.is_none() && len > 0 {
            self.first_len = Some(len);
        }
        if let Some(probed) = self.probing.take() {
            if fresh.is_empty() {
                self.memory.floor = self.memory.floor.max(probed);
            } else {
                self.memory.served = Some(probed);
            }
        }
        let may_hold_more = match total {
            Some(total) => self.seen.len() < total,
            None => len >= ask.page_size as usize,
        };
        self.next = if len == 0 {
            None
        } else if fresh.is_empty() || self.ignores_page_number {
            // The same page again: only a page holding everything can read this server.
            self.ignores_page_number |= ask.page_number > 1;
            let bigger = i32::try_from(total.unwrap_or(0))
                .unwrap_or(LARGEST_ASK)
                .max(ask.page_size.saturating_mul(2))
                .min(LARGEST_ASK);
            (self.ignores_page_number
                && may_hold_more
                && len >= ask.page_size as usize
                && bigger > ask.page_size)
                .then_some(Ask {
                    page_number: 1,
                    page_size: bigger,
                })
        } else if self.more_pages(len, ask, total, meta) {
            Some(Ask {
                page_number: ask.page_number + 1,
                page_size: ask.page_size,
            })
        } else {
            None
        };
        if self.next.is_some()
            && total.is_some_and(|t| self.pages >= self.allowed_pages(t, ask, meta))
        {
            self.next = None;
        }
        if let (None, Some((seen, total))) = (self.next, self.short_of_total()) {
            tracing::warn!(
                list = self.list,
                seen,
                total,
                pages = self.pages,
                "NumHub's paging gave fewer items than its totalCount; the next walk tries again"
            );
        }
        fresh
    }

    /// Whether a page of `len` new-bringing items has a page after it.
    fn more_pages(&mut self, len: usize, ask: Ask, total: Option<usize>, meta: Meta) -> bool {
        if let Some(total) = total {
            return self.seen.len() < total;
        }
        let full = meta
            .page_size
            .and_then(|s| usize::try_from(s).ok())
            .filter(|&s| s > 0)
            .map_or(ask.page_size as usize, |s| s.min(ask.page_size as usize));
        if len >= full {
            return true;
        }
        match self.memory.served {
            Some(served) => len >= served,
            None if len < self.memory.floor => false,
            None => {
                // Shorter than asked, with nothing known: the last page, or the server's
                // cap. The next page tells, once; what it tells is remembered.
                self.probing = Some(len);
                true
            }
        }
    }

    /// `totalCount` over the smallest page served, plus one.
    fn allowed_pages(&self, total: usize, ask: Ask, meta: Meta) -> u32 {
        let per_page = [
            Some(ask.page_size as usize),
            meta.page_size.and_then(|s| usize::try_from(s).ok()),
            self.first_len,
        ]
        .into_iter()
        .flatten()
        .filter(|&s| s > 0)
        .min()
        .unwrap_or(1);
        u32::try_from(total.div_ceil(per_page))
            .unwrap_or(u32::MAX)
            .saturating_add(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server over `n` items: pages capped at `cap`, page 1 whatever is asked when
    /// `ignore`, with a `totalCount` when `counted` (`echo`: its pageSize says what
    /// was asked, not what it served). Returns the items the walk got and the requests.
    fn walk(
        n: usize,
        cap: usize,
        ignore: bool,
        counted: bool,
        echo: bool,
        memory: &mut PageMemory,
    ) -> (usize, u32) {
        let ids: Vec<Uuid> = (0..n).map(|i| Uuid::from_u128(i as u128 + 1)).collect();
        let mut pager = Pager::new("test", *memory);
        let mut got = 0;
        let mut requests = 0;
        while let Some(ask) = pager.next_ask() {
            requests += 1;
            assert!(requests < 1000, "the walk loops");
            let size = (ask.page_size as usize).min(cap);
            let number = if ignore { 1 } else { ask.page_number as usize };
            let page: Vec<Uuid> = ids
                .iter()
                .skip((number - 1) * size)
                .take(size)
                .copied()
                .collect();
            let meta = Meta {
                total_count: counted.then_some(n as i32),
                page_size: counted.then_some(if echo { ask.page_size } else { size as i32 }),
            };
            got += pager.take(page, |u| Some(*u), meta).len();
        }
        *memory = pager.memory();
        (got, requests)
    }

    #[test]
    fn a_capped_server_is_read_whole_in_bounded_pages() {
        for (counted, echo) in [(true, false), (true, true), (false, false)] {
            let (got, requests) = walk(45, 20, false, counted, echo, &mut PageMemory::default());
            assert_eq!(got, 45, "counted {counted} echo {echo}");
            assert!(
                requests <= 4,
                "counted {counted} echo {echo}: {requests} requests"
            );
        }
    }

    #[test]
    fn a_server_ignoring_the_page_number_is_read_whole_without_looping() {
        for counted in [true, false] {
            let (got, requests) = walk(250, 1000, true, counted, false, &mut PageMemory::default());
            assert_eq!(got, 250, "counted {counted}");
            assert!(requests <= 4, "counted {counted}: {requests} requests");
        }
        // Capped as well: nothing can read it whole, but the walk ends.
        let (got, requests) = walk(250, 20, true, true, false, &mut PageMemory::default());
        assert_eq!(got, 20);
        assert!(requests <= 3, "{requests}");
        let mut pager = Pager::new("test", PageMemory::default());
        let page: Vec<Uuid> = (1..=20).map(Uuid::from_u128).collect();
        let meta = Meta {
            total_count: Some(250),
            page_size: Some(20),
        };
        pager.take(page.clone(), |u| Some(*u), meta);
        pager.take(page, |u| Some(*u), meta);
        assert_eq!(pager.next_ask(), None);
        assert_eq!(pager.short_of_total(), Some((20, 250)));
        let (_, requests) = walk(250, 20, true, false, false, &mut PageMemory::default());
        assert!(requests <= 3, "{requests}");
    }

    #[test]
    fn an_honest_server_costs_what_it_did() {
        assert_eq!(
            walk(0, 1000, false, false, false, &mut PageMemory::default()),
            (0, 1)
        );
        assert_eq!(
            walk(30, 1000, false, true, false, &mut PageMemory::default()),
            (30, 1)
        );
        assert_eq!(
            walk(230, 1000, false, true, false, &mut PageMemory::default()),
            (230, 3)
        );
        // Without metadata a short page is probed once; then shorter ones are the last.
        let mut memory = PageMemory::default();
        assert_eq!(walk(30, 1000, false, false, false, &mut memory), (30, 2));
        assert_eq!(walk(12, 1000, false, false, false, &mut memory), (12, 1));
    }

    #[test]
    fn a_learned_cap_spares_the_probe() {
        let mut memory = PageMemory::default();
        assert_eq!(walk(45, 20, false, false, false, &mut memory), (45, 3));
        assert_eq!(memory.served, Some(20));
        assert_eq!(walk(7, 20, false, false, false, &mut memory), (7, 1));
        assert_eq!(walk(40, 20, false, false, false, &mut memory), (40, 3));
    }
}
