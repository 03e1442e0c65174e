//! The packed server page of `metacloud:api` (`server-page` in `wit/api/api.wit`): servers
//! laid out as a few buffers, so a listing crosses the plugin boundary in one cheap copy
//! instead of a score of strings per server. The host packs with [`pack`]; dialects read
//! with [`unpack`]. This crate is the layout's only definition.
//!
//! `text` holds every string back to back; string k ends at byte `ends[k]` and starts where
//! string k-1 ended (the first at 0). Each server is a run of [`STRINGS`] strings — id,
//! name, project-id, user-id, flavor-id, image-id, host, availability-zone, vm-state,
//! task-state, key-name, access-ipv4, access-ipv6, fault-message — then two per metadata
//! item (key, value). Its numbers are a row of [`NUMBERS`]: created-at, updated-at,
//! launched-at, terminated-at, power-state, fault-code, fault-created-at, metadata-count,
//! present (bits: 1 image-id, 2 host, 4 availability-zone, 8 task-state, 16 key-name,
//! 32 launched-at, 64 terminated-at, 128 fault), locked (0 or 1). Absent optional strings
//! are empty, absent numbers 0.

#![no_std]
extern crate alloc;

use alloc::string::String;
use alloc::vec::Vec;

/// Strings per server before its metadata.
pub const STRINGS: usize = 14;
/// Numbers per server.
pub const NUMBERS: usize = 10;

const IMAGE: i64 = 1;
const HOST: i64 = 2;
const ZONE: i64 = 4;
const TASK: i64 = 8;
const KEY: i64 = 16;
const LAUNCHED: i64 = 32;
const TERMINATED: i64 = 64;
const FAULT: i64 = 128;

/// One server's fields, borrowed from wherever they live.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServerRow<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub project_id: &'a str,
    pub user_id: &'a str,
    pub flavor_id: &'a str,
    pub image_id: Option<&'a str>,
    pub host: Option<&'a str>,
    pub availability_zone: Option<&'a str>,
    pub vm_state: &'a str,
    pub task_state: Option<&'a str>,
    pub key_name: Option<&'a str>,
    pub access_ipv4: &'a str,
    pub access_ipv6: &'a str,
    pub metadata: Vec<(&'a str, &'a str)>,
    pub created_at: i64,
    pub updated_at: i64,
    pub launched_at: Option<i64>,
    pub terminated_at: Option<i64>,
    pub power_state: u8,
    /// code, message, created-at
    pub fault: Option<(u32, &'a str, i64)>,
    pub locked: bool,
}

/// A page's buffers, as the WIT record holds them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Packed {
    pub count: u32,
    pub text: String,
    pub ends: Vec<u32>,
    pub numbers: Vec<i64>,
}

/// A page that does not follow the layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageError {
    /// `numbers` is not [`NUMBERS`] per server.
    NumbersMismatch,
    /// Fewer strings than the rows need.
    TooFewStrings,
    /// A string's end lies before its start, past the text, or inside a character.
    BadEnd,
    /// A negative metadata count.
    BadMetadataCount,
}

impl core::fmt::Display for PageError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            PageError::NumbersMismatch => "server page: numbers do not match the count",
            PageError::TooFewStrings => "server page: too few strings",
            PageError::BadEnd => "server page: string ends out of order",
            PageError::BadMetadataCount => "server page: bad metadata count",
        })
    }
}

/// Packs `rows` as the WIT's `server-page` lays them out.
pub fn pack<'a>(rows: impl IntoIterator<Item = ServerRow<'a>>) -> Packed {
    let rows = rows.into_iter();
    let hint = rows.size_hint().0;
    let mut page = Packed {
        count: 0,
        text: String::with_capacity(hint * 256),
        ends: Vec::with_capacity(hint * (STRINGS + 2)),
        numbers: Vec::with_capacity(hint * NUMBERS),
    };
    for s in rows {
        page.push(&s);
    }
    page
}

impl Packed {
    fn string(&mut self, s: &str) {
        self.text.push_str(s);
        self.ends.push(self.text.len() as u32);
    }

    /// Appends one server.
    pub fn push(&mut self, s: &ServerRow<'_>) {
        let mut present = 0;
        for (bit, set) in [
            (IMAGE, s.image_id.is_some()),
            (HOST, s.host.is_some()),
            (ZONE, s.availability_zone.is_some()),
            (TASK, s.task_state.is_some()),
            (KEY, s.key_name.is_some()),
            (LAUNCHED, s.launched_at.is_some()),
            (TERMINATED, s.terminated_at.is_some()),
            (FAULT, s.fault.is_some()),
        ] {
            if set {
                present |= bit;
            }
        }
        for field in [
            s.id,
            s.name,
            s.project_id,
            s.user_id,
            s.flavor_id,
            s.image_id.unwrap_or(""),
            s.host.unwrap_or(""),
            s.availability_zone.unwrap_or(""),
            s.vm_state,
            s.task_state.unwrap_or(""),
            s.key_name.unwrap_or(""),
            s.access_ipv4,
            s.access_ipv6,
            s.fault.map(|f| f.1).unwrap_or(""),
        ] {
            self.string(field);
        }
        for (k, v) in &s.metadata {
            self.string(k);
            self.string(v);
        }
        let fault = s.fault.unwrap_or((0, "", 0));
        self.numbers.extend_from_slice(&[
            s.created_at,
            s.updated_at,
            s.launched_at.unwrap_or(0),
            s.terminated_at.unwrap_or(0),
            s.power_state as i64,
            fault.0 as i64,
            fault.2,
            s.metadata.len() as i64,
            present,
            s.locked as i64,
        ]);
        self.count += 1;
    }
}

/// The rows of a packed page, borrowing its text; a page that does not follow the layout
/// is an error, never a panic.
pub fn unpack<'a>(
    count: u32,
    text: &'a str,
    ends: &[u32],
    numbers: &[i64],
) -> Result<Vec<ServerRow<'a>>, PageError> {
    let count = count as usize;
    if Some(numbers.len()) != count.checked_mul(NUMBERS) {
        return Err(PageError::NumbersMismatch);
    }
    let mut rows = Vec::with_capacity(count.min(4096));
    let mut next = 0usize;
    let mut start = 0usize;
    let mut take = || -> Result<&'a str, PageError> {
        let end = *ends.get(next).ok_or(PageError::TooFewStrings)? as usize;
        let s = text.get(start..end).ok_or(PageError::BadEnd)?;
        next += 1;
        start = end;
        Ok(s)
    };
    for n in numbers.chunks_exact(NUMBERS) {
        let present = n[8];
        let has = |bit: i64| present & bit != 0;
        let mut f = [""; STRINGS];
        for slot in f.iter_mut() {
            *slot = take()?;
        }
        let meta = usize::try_from(n[7]).map_err(|_| PageError::BadMetadataCount)?;
        let mut metadata = Vec::with_capacity(meta.min(128));
        for _ in 0..meta {
            metadata.push((take()?, take()?));
        }
        rows.push(ServerRow {
            id: f[0],
            name: f[1],
            project_id: f[2],
            user_id: f[3],
            flavor_id: f[4],
            image_id: has(IMAGE).then_some(f[5]),
            host: has(HOST).then_some(f[6]),
            availability_zone: has(ZONE).then_some(f[7]),
            vm_state: f[8],
            task_state: has(TASK).then_some(f[9]),
            key_name: has(KEY).then_some(f[10]),
            access_ipv4: f[11],
            access_ipv6: f[12],
            metadata,
            created_at: n[0],
            updated_at: n[1],
            launched_at: has(LAUNCHED).then_some(n[2]),
            terminated_at: has(TERMINATED).then_some(n[3]),
            power_state: n[4].clamp(0, 255) as u8,
            fault: has(FAULT).then_some((n[5].clamp(0, u32::MAX as i64) as u32, f[13], n[6])),
            locked: n[9] != 0,
        });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn row(id: &str) -> ServerRow<'_> {
        ServerRow {
            id,
            name: "vm é",
            project_id: "p",
            user_id: "u",
            flavor_id: "1",
            image_id: Some("img"),
            host: None,
            availability_zone: Some("nova"),
            vm_state: "active",
            task_state: None,
            key_name: Some("k"),
            access_ipv4: "",
            access_ipv6: "::1",
            metadata: vec![("a", "1"), ("b", "")],
            created_at: 5,
            updated_at: 6,
            launched_at: Some(7),
            terminated_at: None,
            power_state: 1,
            fault: Some((500, "boom", 8)),
            locked: true,
        }
    }

    #[test]
    fn what_is_packed_unpacks_the_same() {
        let rows = vec![row("a"), ServerRow::default(), row("c")];
        let p = pack(rows.clone());
        assert_eq!(p.count, 3);
        assert_eq!(unpack(p.count, &p.text, &p.ends, &p.numbers).unwrap(), rows);
    }

    #[test]
    fn a_broken_page_is_an_error_not_a_panic() {
        let p = pack([row("a")]);
        assert_eq!(
            unpack(2, &p.text, &p.ends, &p.numbers),
            Err(PageError::NumbersMismatch)
        );
        assert_eq!(
            unpack(1, &p.text, &p.ends[..3], &p.numbers),
            Err(PageError::TooFewStrings)
        );
        let mut ends = p.ends.clone();
        ends[0] = u32::MAX;
        assert_eq!(
            unpack(1, &p.text, &ends, &p.numbers),
            Err(PageError::BadEnd)
        );
        // An end inside the two-byte "é".
        let mut ends = p.ends.clone();
        ends[1] = ends[0] + 4;
        assert_eq!(
            unpack(1, &p.text, &ends, &p.numbers),
            Err(PageError::BadEnd)
        );
        let mut numbers = p.numbers.clone();
        numbers[7] = -1;
        assert_eq!(
            unpack(1, &p.text, &p.ends, &numbers),
            Err(PageError::BadMetadataCount)
        );
        assert_eq!(
            unpack(u32::MAX, "", &[], &[]),
            Err(PageError::NumbersMismatch)
        );
    }
}
