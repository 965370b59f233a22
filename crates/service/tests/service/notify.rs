//! Webhook notifications: every campaign event once, in order, signed, and a
//! receiver that is down delays nothing and loses nothing.

use std::cell::{Cell, RefCell};

use sluice_service::kernel::config::Webhook;
use sluice_service::ops::webhooks::{self as notify, Sender};

use super::*;

/// One accepted request: its headers and its JSON body.
type Accepted = (Vec<(String, String)>, Value);

/// A receiver in memory: records what it accepts, or refuses while `down`.
#[derive(Default)]
struct Receiver {
    got: RefCell<Vec<Accepted>>,
    down: Cell<bool>,
    attempts: Cell<u32>,
}

impl Sender for Receiver {
    fn post(&self, url: &str, headers: &[(&str, String)], body: &[u8]) -> Result<u16, String> {
        assert_eq!(url, "https://hooks.example/sluice");
        self.attempts.set(self.attempts.get() + 1);
        if self.down.get() {
            return Err("connection refused".into());
        }
        let headers = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        self.got
            .borrow_mut()
            .push((headers, serde_json::from_slice(body).unwrap()));
        Ok(204)
    }
}

const SECRET: &str = "a-shared-secret-of-some-length";

impl Fleet {
    fn deliver(&self, receiver: &Receiver) -> notify::Delivered {
        let svc = Service {
            store: &self.store,
            policy: self.policy,
            config: &self.config,
            env: &self.env,
        };
        let webhook = Webhook {
            url: "https://hooks.example/sluice".into(),
            secret: SECRET.into(),
        };
        notify::deliver(&svc, &webhook, receiver).unwrap()
    }
}

fn events(receiver: &Receiver) -> Vec<(String, String)> {
    receiver
        .got
        .borrow()
        .iter()
        .map(|(_, e)| {
            (
                e["event"].as_str().unwrap().to_owned(),
                e["campaign"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn each_campaign_event_arrives_once_in_order_and_signed() {
    let fleet = Fleet::new();
    let devs = fleet.enrol_many("d", 4);
    fleet.publish("2.0", &["cam-v2"], 1);
    let receiver = Receiver::default();
    let c = fleet.campaign(json!({"release": "2.0", "policy": {"stages": [{"percent": 100}]}}));
    assert_eq!(fleet.deliver(&receiver).sent, 1);
    assert_eq!(
        fleet.deliver(&receiver),
        notify::Delivered::default(),
        "nothing new"
    );
    fleet.admin("POST", &format!("/v1/admin/campaigns/{c}/pause"), "");
    fleet.admin("POST", &format!("/v1/admin/campaigns/{c}/resume"), "");
    // Every device fails, until the policy halts the campaign.
    for dev in &devs {
        if fleet.checkin(dev, "1.0")["action"] == "update" {
            fleet.finish(dev, &c, "failed");
        }
    }
    fleet.deliver(&receiver);
    let got = events(&receiver);
    let kinds: Vec<&str> = got.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(kinds, ["started", "paused", "resumed", "halted"], "{got:?}");

    // The halt carries its reason and the figures behind it.
    let (headers, halted) = receiver.got.borrow().last().unwrap().clone();
    assert!(
        halted["after"]["reason"]
            .as_str()
            .unwrap()
            .contains("failure rate"),
        "{halted}"
    );
    assert_eq!(halted["after"]["total"]["failed"], 1, "{halted}");
    // Ids are the audit log's sequence numbers: increasing.
    let ids: Vec<i64> = receiver
        .got
        .borrow()
        .iter()
        .map(|(_, e)| e["id"].as_i64().unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    // The signature is the HMAC-SHA256 of "timestamp.body" under the secret.
    let header = |name: &str| headers.iter().find(|(k, _)| k == name).unwrap().1.clone();
    let timestamp: u64 = header("x-sluice-timestamp").parse().unwrap();
    let body = halted.to_string();
    assert_eq!(
        header("x-sluice-signature"),
        notify::signature(SECRET, timestamp, body.as_bytes())
    );
    assert_ne!(
        header("x-sluice-signature"),
        notify::signature("another secret", timestamp, body.as_bytes())
    );
    assert_eq!(header("x-sluice-event"), "halted");
}

#[test]
fn a_receiver_that_is_down_gets_every_event_later_with_backoff() {
    let fleet = Fleet::new();
    fleet.publish("2.0", &["cam-v2"], 1);
    let receiver = Receiver::default();
    receiver.down.set(true);
    let c = fleet.campaign(json!({"release": "2.0"}));
    let first = fleet.deliver(&receiver);
    assert!(first.failed && first.sent == 0);
    // Backing off: no attempt until the wait is over, however often it is asked.
    for _ in 0..10 {
        fleet.deliver(&receiver);
    }
    assert_eq!(receiver.attempts.get(), 1);
    fleet.admin("POST", &format!("/v1/admin/campaigns/{c}/pause"), "");
    fleet.advance(2);
    fleet.deliver(&receiver);
    assert_eq!(receiver.attempts.get(), 2);
    fleet.advance(3);
    fleet.deliver(&receiver);
    assert_eq!(receiver.attempts.get(), 2, "the wait doubled");
    // Back up: both events, once each, in order.
    receiver.down.set(false);
    fleet.advance(600);
    assert_eq!(fleet.deliver(&receiver).sent, 2);
    assert_eq!(
        events(&receiver),
        [("started".into(), c.clone()), ("paused".into(), c)]
    );
}

#[test]
fn a_missing_audit_entry_holds_delivery_for_a_grace_then_is_skipped() {
    let fleet = Fleet::new();
    fleet.publish("2.0", &["cam-v2"], 1);
    fleet.publish("3.0", &["cam-v2"], 1);
    let receiver = Receiver::default();
    fleet.deliver(&receiver);
    let before = receiver.got.borrow().len();
    // An entry deleted behind the service's back, before it was delivered.
    fleet.campaign(json!({"release": "2.0"}));
    let deleted = sluice_service::ops::audit::head(&fleet.store).unwrap().seq;
    use sluice_service::Store as _;
    fleet
        .store
        .delete(&sluice_service::kernel::keys::audit(deleted))
        .unwrap();
    let c = fleet.campaign(json!({"release": "3.0"}));
    assert_eq!(fleet.deliver(&receiver).sent, 0, "nothing passes the gap");
    fleet.advance(notify::GAP_GRACE_SECONDS - 1);
    assert_eq!(fleet.deliver(&receiver).sent, 0);
    // Past the grace the number is skipped, and nothing after it is lost.
    fleet.advance(1);
    assert_eq!(fleet.deliver(&receiver).sent, 1);
    assert_eq!(receiver.got.borrow().len(), before + 1);
    assert_eq!(
        events(&receiver).last().unwrap(),
        &("started".to_owned(), c)
    );
}
