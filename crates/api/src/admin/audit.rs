//! The audit log as `GET /v1/admin/audit` answers it, and the check of its
//! hash chain (`sluice audit verify`), which anyone holding the entries can
//! run: each entry names the SHA-256 of the one before it ([`GENESIS`] for the
//! first), and the head names the last.
//!
//! An [`Entry`] is answered byte for byte as it is stored, so its
//! [`digest`](Entry::digest) is the same on the server, in an export and in
//! this crate.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Most entries one read returns.
pub const MAX_PAGE: usize = 1000;

/// What the first chained entry names as the one before it.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One audit entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Entry {
    pub seq: i64,
    pub at: u64,
    /// `admin` (or `admin:NAME`) for the operator's token, `policy` or
    /// `schedule` for decisions the service takes itself.
    pub actor: String,
    /// What was done, as the entry's name: `campaign.pause`, `device.revoke`, ….
    pub action: String,
    pub target: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
    /// The digest of the entry before this one (hex SHA-256). Absent only on
    /// entries written before the log was chained.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev: Option<String>,
}

impl Entry {
    /// The SHA-256 (hex) of the entry's JSON encoding, which the next entry names
    /// as `prev`. Decoding and encoding again gives the same bytes, so anyone
    /// holding the entry (from the API or an export) can recompute it.
    ///
    /// ```
    /// use sluice_api::admin::audit::{Entry, GENESIS};
    /// let entry = Entry {
    ///     seq: 1, at: 0, actor: "admin".into(), action: "release.publish".into(),
    ///     target: "2.0".into(), before: None, after: None, prev: Some(GENESIS.into()),
    /// };
    /// assert_eq!(entry.digest().len(), 64);
    /// ```
    pub fn digest(&self) -> String {
        let bytes = serde_json::to_vec(self).unwrap_or_default();
        hex(&Sha256::digest(bytes))
    }
}

/// The last entry of the log: its number and digest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Head {
    pub seq: i64,
    pub digest: String,
}

/// One page of the log, as `GET /v1/admin/audit` returns it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Page {
    /// The entries found, oldest first, as stored.
    pub entries: Vec<Entry>,
    /// Positions in the page with no entry (deleted behind Sluice's back).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<i64>,
    /// The last position read: the next page starts after it.
    pub next: i64,
    /// The log's head when the page was read.
    pub head: Head,
}

impl Page {
    /// The entries with the positions they were found at.
    pub fn positioned(&self, after: i64) -> impl Iterator<Item = (i64, &Entry)> {
        let mut positions = (after + 1..=self.next).filter(|p| !self.missing.contains(p));
        self.entries
            .iter()
            .map(move |entry| (positions.next().unwrap_or(entry.seq), entry))
    }
}

/// A digest noted earlier that entry `seq` must still have (e.g. from an
/// earlier `sluice audit verify`, or a webhook receiver's copy): it catches a
/// log rewritten consistently from some entry on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Anchor {
    pub seq: i64,
    pub digest: String,
}

impl std::str::FromStr for Anchor {
    type Err = String;

    /// Parses `SEQ:DIGEST`, as `sluice audit verify` prints it.
    ///
    /// ```
    /// use sluice_api::admin::audit::Anchor;
    /// let anchor: Anchor = format!("42:{}", "ab".repeat(32)).parse().unwrap();
    /// assert_eq!(anchor.seq, 42);
    /// assert!("42".parse::<Anchor>().is_err());
    /// ```
    fn from_str(text: &str) -> Result<Anchor, String> {
        let (seq, digest) = text
            .split_once(':')
            .ok_or("an anchor is SEQ:DIGEST, as `sluice audit verify` prints it")?;
        let seq = seq
            .parse::<i64>()
            .ok()
            .filter(|s| *s > 0)
            .ok_or_else(|| format!("anchor entry number {seq:?} is not a positive number"))?;
        let digest = digest.to_ascii_lowercase();
        if digest.len() != 64 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("anchor digest {digest:?} is not 64 hex digits"));
        }
        Ok(Anchor { seq, digest })
    }
}

/// Something [`ChainVerifier`] found wrong with a log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Finding {
    /// Positions `from..=to` hold no entry: deleted (or moved).
    Missing { from: i64, to: i64 },
    /// Entry `seq` is stored at a position it was not written at: the log was
    /// reordered (or an entry's number was edited).
    Misplaced { seq: i64, position: i64 },
    /// Entry `seq` does not name the digest of the entry before it: that entry
    /// (or this one) was edited, or entries were reordered.
    BrokenLink { seq: i64 },
    /// Entry `seq` has no link although entries before it do: its link was
    /// removed.
    Unlinked { seq: i64 },
    /// The head names another last entry than the log ends with: the last
    /// entries were edited or deleted.
    Head { head: Head, last: Option<Head> },
    /// An anchor's entry is missing or has another digest: the log was
    /// rewritten.
    Anchor {
        anchor: Anchor,
        found: Option<String>,
    },
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Finding::Missing { from, to } if from == to => {
                write!(f, "entry {from} is missing: deleted or moved")
            }
            Finding::Missing { from, to } => {
                write!(f, "entries {from} to {to} are missing: deleted or moved")
            }
            Finding::Misplaced { seq, position } => write!(
                f,
                "entry {seq} is stored at position {position}: the log was reordered or the entry's number edited"
            ),
            Finding::BrokenLink { seq } => write!(
                f,
                "entry {seq} does not follow the entry before it: one of them was edited, or entries were reordered"
            ),
            Finding::Unlinked { seq } => {
                write!(
                    f,
                    "entry {seq} lost its link to the entry before it: it was edited"
                )
            }
            Finding::Head { head, last } => {
                write!(
                    f,
                    "the log's head names entry {} ({}), ",
                    head.seq,
                    short(&head.digest)
                )?;
                match last {
                    Some(last) => write!(
                        f,
                        "but the log ends with entry {} ({}): the last entries were edited or deleted",
                        last.seq,
                        short(&last.digest)
                    ),
                    None => write!(f, "but the log is empty: its entries were deleted"),
                }
            }
            Finding::Anchor { anchor, found } => match found {
                Some(found) => write!(
                    f,
                    "entry {} has digest {}, not the anchored {}: the log was rewritten",
                    anchor.seq,
                    short(found),
                    short(&anchor.digest)
                ),
                None => write!(
                    f,
                    "anchored entry {} is not in the log: the log was rewritten",
                    anchor.seq
                ),
            },
        }
    }
}

fn short(digest: &str) -> &str {
    digest.get(..12).unwrap_or(digest)
}

/// Checks a log's entries, given in stored order page by page, against its chain.
///
/// ```
/// use sluice_api::admin::audit::{Entry, GENESIS, Head, ChainVerifier};
///
/// let entry = |seq: i64, prev: String| Entry {
///     seq, at: seq as u64, actor: "alice".into(), action: "freeze.add".into(),
///     target: "f1".into(), before: None, after: None, prev: Some(prev),
/// };
/// let first = entry(1, GENESIS.into());
/// let second = entry(2, first.digest());
/// let mut verifier = ChainVerifier::default();
/// verifier.push(1, &first);
/// verifier.push(2, &second);
/// let report = verifier.finish(Some(&Head { seq: 2, digest: second.digest() }));
/// assert!(report.findings.is_empty());
/// assert_eq!(report.entries, 2);
///
/// // An edited entry breaks the link the next one holds.
/// let mut verifier = ChainVerifier::default();
/// verifier.push(1, &Entry { target: "f2".into(), ..first });
/// verifier.push(2, &second);
/// assert_eq!(verifier.finish(None).findings.len(), 1);
/// ```
#[derive(Debug, Default)]
pub struct ChainVerifier {
    /// The last position an entry was found at.
    position: i64,
    /// The last entry's number and digest.
    last: Option<Head>,
    /// Whether a linked entry was seen (unlinked ones may only come before).
    linked: bool,
    entries: u64,
    unlinked: u64,
    /// The anchors, with the digest their entry was found with.
    anchors: Vec<(Anchor, Option<String>)>,
    findings: Vec<Finding>,
}

/// What [`ChainVerifier::finish`] concludes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Entries checked.
    pub entries: u64,
    /// Entries written before the log was chained (they cannot be checked).
    pub unlinked: u64,
    /// The last entry checked: note it, and pass it later as an anchor.
    pub last: Option<Head>,
    /// Everything wrong, in log order; empty for an intact log.
    pub findings: Vec<Finding>,
}

impl ChainVerifier {
    /// A verifier that also checks `anchors`.
    pub fn with_anchors(anchors: &[Anchor]) -> ChainVerifier {
        ChainVerifier {
            anchors: anchors.iter().map(|a| (a.clone(), None)).collect(),
            ..ChainVerifier::default()
        }
    }

    /// Checks the entry found at `position` (positions rise; a position with no
    /// entry is simply not pushed).
    pub fn push(&mut self, position: i64, entry: &Entry) {
        if position > self.position + 1 {
            self.findings.push(Finding::Missing {
                from: self.position + 1,
                to: position - 1,
            });
        }
        if entry.seq != position {
            self.findings.push(Finding::Misplaced {
                seq: entry.seq,
                position,
            });
        }
        let follows_gap = position > self.position + 1;
        match (&entry.prev, &self.last) {
            (Some(prev), _) if !self.linked => {
                if prev != GENESIS && !follows_gap {
                    self.findings.push(Finding::BrokenLink { seq: entry.seq });
                }
                self.linked = true;
            }
            (Some(prev), Some(last)) => {
                // After a gap the entry before is unknown; the gap is reported.
                if *prev != last.digest && !follows_gap {
                    self.findings.push(Finding::BrokenLink { seq: entry.seq });
                }
            }
            (Some(_), None) => {}
            (None, _) if self.linked => self.findings.push(Finding::Unlinked { seq: entry.seq }),
            (None, _) => self.unlinked += 1,
        }
        let digest = entry.digest();
        if let Some(anchor) = self.anchors.iter_mut().find(|a| a.0.seq == entry.seq) {
            anchor.1 = Some(digest.clone());
        }
        self.last = Some(Head {
            seq: entry.seq,
            digest,
        });
        self.position = position;
        self.entries += 1;
    }

    /// Checks the end of the log against its `head` (when known: an export
    /// carries none), and the anchors.
    pub fn finish(mut self, head: Option<&Head>) -> Report {
        if let Some(head) = head
            && self.last.as_ref() != Some(head)
            && !(head.seq == 0 && self.last.is_none())
        {
            self.findings.push(Finding::Head {
                head: head.clone(),
                last: self.last.clone(),
            });
        }
        for (anchor, found) in std::mem::take(&mut self.anchors) {
            if found.as_deref() != Some(anchor.digest.as_str()) {
                self.findings.push(Finding::Anchor { anchor, found });
            }
        }
        Report {
            entries: self.entries,
            unlinked: self.unlinked,
            last: self.last,
            findings: self.findings,
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
