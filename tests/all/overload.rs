//! Overload against a real `sluice up`: a saturated host sheds with 503 and
//! Retry-After instead of queueing, a device over its budget gets 429 without
//! costing the others, and a client that sends one byte a second is cut off
//! while everyone else is served.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::support::app::{basic, enrol};
use crate::support::cli::scratch;
use crate::support::host::{Answer, Host, HostConfig, http};

fn checkin(host: &Host, device: &(String, String)) -> Answer {
    let body = br#"{"hardware":"cam-v2","version":"1.0.0","security_version":1}"#;
    http(
        "POST",
        &format!("{}/v1/checkin", host.url),
        &[("authorization", &basic(&device.0, &device.1))],
        Some(body),
    )
}

#[test]
fn a_device_over_its_budget_gets_429_and_the_others_are_served() {
    let (_guard, dir) = scratch();
    let host = Host::start(
        HostConfig::sluice(&dir.join("state"))
            .arg("--device-budget")
            .arg("1/s:5"),
    );
    let devices = enrol(&host, &["loop-1".into(), "calm-1".into()]);
    let answers: Vec<Answer> = (0..20).map(|_| checkin(&host, &devices[0])).collect();
    let served = answers.iter().filter(|a| a.status == 200).count();
    let refused: Vec<&Answer> = answers.iter().filter(|a| a.status == 429).collect();
    assert_eq!(served + refused.len(), 20, "only 200 or 429");
    assert!(served >= 5, "the burst is served");
    assert!(!refused.is_empty(), "a looping device is stopped");
    for answer in &refused {
        let wait: u64 = answer.header("retry-after").unwrap().parse().unwrap();
        assert!(wait >= 1);
        assert_eq!(answer.json()["error"], "too_many_requests");
    }
    assert_eq!(
        checkin(&host, &devices[1]).status,
        200,
        "another device is untouched"
    );
    host.stop();
}

fn connect(host: &Host) -> TcpStream {
    let address = host.url.trim_start_matches("http://");
    let stream = TcpStream::connect(address).unwrap();
    stream.set_nodelay(true).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream
}

/// Writes `head` (a request line and headers, without the final blank line)
/// and `body` in one go on a connected stream; the answer's status and
/// Retry-After.
fn exchange(stream: &mut TcpStream, head: &str, body: &str) -> (u16, Option<String>) {
    let request = format!(
        "{head}\r\nhost: sluice\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {response:?}"));
    let retry_after = response
        .lines()
        .take_while(|line| !line.is_empty())
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("retry-after")
                .then(|| value.trim().to_owned())
        });
    (status, retry_after)
}

/// `clients` threads each send `rounds` requests, all clients at once in
/// each round (connected first, sent at a barrier, so the host sees them
/// together rather than one by one); every answer's status and Retry-After.
fn bursts(
    host: &Host,
    clients: usize,
    rounds: usize,
    request: impl Fn(usize) -> (String, String) + Sync,
) -> Vec<(u16, Option<String>)> {
    let barrier = std::sync::Barrier::new(clients);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..clients)
            .map(|client| {
                let (barrier, request) = (&barrier, &request);
                scope.spawn(move || {
                    (0..rounds)
                        .map(|_| {
                            let mut stream = connect(host);
                            let (head, body) = request(client);
                            barrier.wait();
                            exchange(&mut stream, &head, &body)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    })
}

/// Checks that every answer is 200, or 503 with a Retry-After of 1 to 5 s;
/// returns how many were served and how many shed.
fn served_or_shed(statuses: &[(u16, Option<String>)]) -> (usize, usize) {
    let other: Vec<u16> = statuses
        .iter()
        .map(|(s, _)| *s)
        .filter(|s| *s != 200 && *s != 503)
        .collect();
    assert!(other.is_empty(), "only 200 or 503: {other:?}");
    for (_, retry_after) in statuses.iter().filter(|(s, _)| *s == 503) {
        let wait: u64 = retry_after.as_deref().unwrap().parse().unwrap();
        assert!((1..=5).contains(&wait));
    }
    let served = statuses.iter().filter(|(s, _)| *s == 200).count();
    (served, statuses.len() - served)
}

/// A host running the test fixture (`/sleep`, `/busy`).
fn fixture_host(dir: &std::path::Path, max_concurrent: Option<&str>) -> Host {
    let mut config = HostConfig::fixture(&dir.join("state"));
    if let Some(n) = max_concurrent {
        config = config.arg("--max-concurrent").arg(n);
    }
    Host::start(config)
}

#[test]
fn a_host_out_of_instances_sheds_with_503_and_retry_after() {
    let (_guard, dir) = scratch();
    let host = fixture_host(&dir, Some("2"));
    // 16 requests at once that each hold an instance for 300 ms, against 2
    // instances and 2 places to wait: 4 are served, the rest shed at once.
    let statuses = bursts(&host, 16, 2, |_| {
        ("GET /sleep?ms=300 HTTP/1.1".to_owned(), String::new())
    });
    let (served, shed) = served_or_shed(&statuses);
    eprintln!("out of instances: {served} served, {shed} shed of 32");
    assert!(served >= 4, "the host keeps serving");
    assert!(shed >= 16, "16 at once against 2 instances: most are shed");
    host.stop();
}

#[test]
fn a_cpu_bound_host_sheds_on_queueing_delay_rather_than_queue_without_bound() {
    let (_guard, dir) = scratch();
    // Instances to spare: only the queueing delay can shed here.
    let host = fixture_host(&dir, None);
    // 48 requests at once that each compute for 40 ms: about a second of
    // work for 2 cores, so requests wait far past the 50 ms target.
    let statuses = bursts(&host, 48, 6, |_| {
        ("GET /busy?ms=40 HTTP/1.1".to_owned(), String::new())
    });
    let (served, shed) = served_or_shed(&statuses);
    eprintln!(
        "cpu-bound: {served} served, {shed} shed of {}",
        statuses.len()
    );
    assert!(served > 0, "the host keeps serving");
    assert!(shed > 0, "a standing queue is shed");
    assert!(
        host.log().contains("queueing delay stands above target"),
        "the host says why it sheds"
    );
    host.stop();
}

#[test]
fn a_burst_of_check_ins_gets_only_200_or_503() {
    let (_guard, dir) = scratch();
    let host = Host::start(
        HostConfig::sluice(&dir.join("state"))
            .arg("--max-concurrent")
            .arg("2")
            .arg("--device-budget")
            .arg("off"),
    );
    let ids: Vec<String> = (0..64).map(|i| format!("cam-{i}")).collect();
    let devices = enrol(&host, &ids);
    let body = r#"{"hardware":"cam-v2","version":"1.0.0","security_version":1}"#;
    let statuses = bursts(&host, devices.len(), 10, |client| {
        let (id, secret) = &devices[client];
        (
            format!(
                "POST /v1/checkin HTTP/1.1\r\nauthorization: {}\r\ncontent-type: application/json",
                basic(id, secret)
            ),
            body.to_owned(),
        )
    });
    let (served, shed) = served_or_shed(&statuses);
    eprintln!(
        "check-in bursts: {served} served, {shed} shed of {}",
        statuses.len()
    );
    assert!(served > 0, "the host keeps serving");
    host.stop();
}

#[test]
fn a_client_sending_a_byte_a_second_is_cut_off_while_others_are_served() {
    let (_guard, dir) = scratch();
    let host = Host::start(HostConfig::sluice(&dir.join("state")));
    let addr = host.url.trim_start_matches("http://").to_owned();
    let done = AtomicBool::new(false);
    let cut_off = AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let mut slow = TcpStream::connect(&addr).unwrap();
            slow.set_read_timeout(Some(Duration::from_millis(10)))
                .unwrap();
            let request =
                b"POST /v1/checkin HTTP/1.1\r\nHost: sluice\r\nContent-Length: 2\r\n\r\n{}";
            // At one byte a second the request would take a minute; its last
            // byte never comes, so any answer or close is the server's cut.
            for byte in &request[..request.len() - 1] {
                if slow.write_all(&[*byte]).is_err() {
                    cut_off.store(true, Ordering::Release);
                    break;
                }
                let mut buffer = [0u8; 256];
                match slow.read(&mut buffer) {
                    // Closed, or answered with an error before the request
                    // was whole: either way, cut off.
                    Ok(_) => {
                        cut_off.store(true, Ordering::Release);
                        break;
                    }
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) => {}
                    Err(_) => {
                        cut_off.store(true, Ordering::Release);
                        break;
                    }
                }
                std::thread::sleep(Duration::from_secs(1));
            }
            done.store(true, Ordering::Release);
        });
        // Meanwhile everyone else is served, one request after another.
        let mut served = 0;
        while !done.load(Ordering::Acquire) {
            let answer = http("GET", &format!("{}/v1/admin/releases", host.url), &[], None);
            assert_eq!(answer.status, 401);
            served += 1;
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(served > 10, "{served}");
    });
    assert!(
        cut_off.load(Ordering::Acquire),
        "the server waited for the whole slow request"
    );
    host.stop();
}
