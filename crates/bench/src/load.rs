//! A closed-loop HTTP load generator: a fixed number of keep-alive connections,
//! each sending its next request as soon as the last answer is read, for a
//! fixed time after a warm-up. It reports requests per second, latency
//! percentiles and bytes received.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use tokio::net::TcpStream;

/// Makes the `n`th request of connection `connection`.
pub type MakeRequest = Arc<dyn Fn(usize, u64) -> hyper::Request<Full<Bytes>> + Send + Sync>;

/// How hard and how long.
#[derive(Clone, Copy, Debug)]
pub struct Load {
    pub connections: usize,
    pub warmup: Duration,
    pub duration: Duration,
}

/// What one run measured.
#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq)]
pub struct Measured {
    /// Requests served (answers other than 503), whose latencies count.
    pub requests: u64,
    /// Answers with a 5xx status other than 503, and connection failures.
    pub errors: u64,
    /// Requests shed with 503 (the host at capacity), measured apart.
    pub shed: u64,
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Response body bytes per second, in MB (10^6).
    pub mbps: f64,
}

struct ConnectionResult {
    latencies_us: Vec<u32>,
    errors: u64,
    shed: u64,
    bytes: u64,
}

async fn connection(
    addr: SocketAddr,
    index: usize,
    make: MakeRequest,
    measure_from: Instant,
    until: Instant,
) -> ConnectionResult {
    let mut result = ConnectionResult {
        latencies_us: Vec::new(),
        errors: 0,
        shed: 0,
        bytes: 0,
    };
    let mut n = 0u64;
    'reconnect: while Instant::now() < until {
        let Ok(stream) = TcpStream::connect(addr).await else {
            result.errors += 1;
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let Ok((mut sender, conn)) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await
        else {
            result.errors += 1;
            continue;
        };
        tokio::spawn(conn);
        while Instant::now() < until {
            let request = make(index, n);
            n += 1;
            let started = Instant::now();
            let answer = match sender.send_request(request).await {
                Ok(answer) => answer,
                Err(_) => {
                    result.errors += 1;
                    continue 'reconnect;
                }
            };
            let shed = answer.status() == hyper::StatusCode::SERVICE_UNAVAILABLE;
            let failed = answer.status().is_server_error() && !shed;
            let bytes = match answer.into_body().collect().await {
                Ok(body) => body.to_bytes().len() as u64,
                Err(_) => {
                    result.errors += 1;
                    continue 'reconnect;
                }
            };
            if started >= measure_from && shed {
                result.shed += 1;
            } else if started >= measure_from {
                let us = started.elapsed().as_micros().min(u128::from(u32::MAX)) as u32;
                result.latencies_us.push(us);
                result.bytes += bytes;
                result.errors += u64::from(failed);
            }
        }
    }
    result
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[index.min(sorted.len() - 1)]) / 1000.0
}

/// Runs `load` against `addr` on the current runtime.
pub async fn run(addr: SocketAddr, load: Load, make: MakeRequest) -> Measured {
    let start = Instant::now();
    let measure_from = start + load.warmup;
    let until = measure_from + load.duration;
    let tasks: Vec<_> = (0..load.connections.max(1))
        .map(|i| tokio::spawn(connection(addr, i, make.clone(), measure_from, until)))
        .collect();
    let mut latencies = Vec::new();
    let (mut errors, mut shed, mut bytes) = (0, 0, 0);
    for task in tasks {
        if let Ok(r) = task.await {
            latencies.extend(r.latencies_us);
            errors += r.errors;
            shed += r.shed;
            bytes += r.bytes;
        }
    }
    latencies.sort_unstable();
    let seconds = load.duration.as_secs_f64().max(1e-9);
    Measured {
        requests: latencies.len() as u64,
        errors,
        shed,
        rps: latencies.len() as f64 / seconds,
        p50_ms: percentile(&latencies, 0.50),
        p99_ms: percentile(&latencies, 0.99),
        max_ms: latencies
            .last()
            .map(|v| f64::from(*v) / 1000.0)
            .unwrap_or(0.0),
        mbps: bytes as f64 / seconds / 1e6,
    }
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn percentiles_pick_from_the_sorted_latencies() {
        let us: Vec<u32> = (1..=100).map(|i| i * 1000).collect();
        assert_eq!(percentile(&us, 0.5), 51.0);
        assert_eq!(percentile(&us, 0.99), 99.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
    }
}
