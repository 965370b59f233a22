//! Overload against a real `sluice up`: a saturated host sheds with 503 and
//! Retry-After instead of queueing, a device over its budget gets 429 without
//! costing the others, and a client that sends one byte a second is cut off
//! while everyone else is served.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::cli::scratch;
use crate::host::{Answer, Host, HostConfig, http};
use crate::up::{basic, enrol};

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

#[test]
fn a_saturated_host_sheds_with_503_and_retry_after_and_never_fails_otherwise() {
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
    let statuses: Vec<(u16, Option<String>)> = std::thread::scope(|scope| {
        let workers: Vec<_> = devices
            .iter()
            .map(|device| {
                let host = &host;
                scope.spawn(move || {
                    (0..10)
                        .map(|_| {
                            let answer = checkin(host, device);
                            (
                                answer.status,
                                answer.header("retry-after").map(str::to_owned),
                            )
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    let served = statuses.iter().filter(|(s, _)| *s == 200).count();
    let shed: Vec<&Option<String>> = statuses
        .iter()
        .filter(|(s, _)| *s == 503)
        .map(|(_, r)| r)
        .collect();
    let other: Vec<u16> = statuses
        .iter()
        .map(|(s, _)| *s)
        .filter(|s| *s != 200 && *s != 503)
        .collect();
    assert!(other.is_empty(), "only 200 or 503: {other:?}");
    assert!(served > 0, "the host keeps serving");
    assert!(
        !shed.is_empty(),
        "64 clients against 2 slots: some are shed"
    );
    for retry_after in shed {
        let wait: u64 = retry_after.as_deref().unwrap().parse().unwrap();
        assert!((1..=5).contains(&wait));
    }
    eprintln!(
        "saturated: {served} served, {} shed of {}",
        statuses.len() - served,
        statuses.len()
    );
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
