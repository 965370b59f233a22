//! Responses too large to build in memory: a whole firmware image for a DDI
//! client is described as parts (literal bytes and slices of stored chunks) that
//! the component reads and sends one at a time.

use crate::kernel::http::{ApiError, Response};
use crate::kernel::keys;
use crate::kernel::store::Store;

/// One piece of a streamed body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BodyPart {
    /// Bytes sent as they are (e.g. a multipart boundary).
    Bytes(Vec<u8>),
    /// Bytes `start..end` of the stored chunk with this SHA-256 (hex).
    ChunkSlice {
        digest: String,
        start: usize,
        end: usize,
    },
}

impl BodyPart {
    /// How many bytes the part sends.
    pub fn len(&self) -> u64 {
        match self {
            BodyPart::Bytes(bytes) => bytes.len() as u64,
            BodyPart::ChunkSlice { start, end, .. } => (end - start) as u64,
        }
    }

    /// Whether the part sends nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The part's bytes, reading the chunk it names from `store`.
    pub fn read(&self, store: &dyn Store) -> Result<Vec<u8>, ApiError> {
        match self {
            BodyPart::Bytes(bytes) => Ok(bytes.clone()),
            BodyPart::ChunkSlice { digest, start, end } => {
                let chunk = store
                    .get(&keys::chunk(digest))?
                    .ok_or_else(|| ApiError::internal(format!("chunk {digest} is missing")))?;
                chunk.get(*start..*end).map(<[u8]>::to_vec).ok_or_else(|| {
                    ApiError::internal(format!(
                        "chunk {digest} is {} bytes, shorter than expected",
                        chunk.len()
                    ))
                })
            }
        }
    }
}

/// A response whose body is sent part by part.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamedResponse {
    pub status: u16,
    /// Including `content-length`, which is the sum of the parts.
    pub headers: Vec<(String, String)>,
    pub parts: Vec<BodyPart>,
}

/// What a handler answers: a response built in memory, or one to stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    Whole(Response),
    Streamed(StreamedResponse),
}

impl Reply {
    /// The whole response in memory: for servers that do not stream (tests, the
    /// native baseline). Components stream [`Reply::Streamed`] instead.
    pub fn into_response(self, store: &dyn Store) -> Response {
        match self {
            Reply::Whole(response) => response,
            Reply::Streamed(streamed) => {
                let mut body = Vec::new();
                for part in &streamed.parts {
                    match part.read(store) {
                        Ok(bytes) => body.extend_from_slice(&bytes),
                        Err(error) => return error.into_response(),
                    }
                }
                Response {
                    status: streamed.status,
                    headers: streamed.headers,
                    body,
                }
            }
        }
    }
}

impl From<Response> for Reply {
    fn from(response: Response) -> Self {
        Reply::Whole(response)
    }
}
