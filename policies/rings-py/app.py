"""Meeting-room rings: a rollout policy for a fleet of video-conferencing room
devices, written the way a device vendor would write one, in Python, against
Sluice's WIT (`wit/policy.wit`) and nothing else of Sluice's.

Rooms are updated ring by ring: the vendor's lab first, then the customer's
pilot rooms, then everything. A room belongs to the ring named by its
`ring:NAME` tag; untagged rooms are in the last ring. No room is ever updated
during meeting hours in its own time zone (weekdays), which is exactly when a
failed update would empty an all-hands.

Configuration (JSON, every field optional):

    {
      "rings": ["lab", "pilot", "fleet"],
      "soak_hours": 24,
      "min_finished": 5,
      "max_failure_rate": 0.1,
      "meeting_hours": {"start": 7, "end": 19}
    }
"""

import json
import math

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports.rollout import (
    Campaign,
    Decision,
    Description,
    FailureGate,
    RateTest_Observed,
    Window,
    Decision_Defer,
    Decision_Halt,
    Decision_Offer,
    Decision_Skip,
    Deferral,
    Device,
    Stats,
    Verdict,
    Verdict_Advance,
    Verdict_Halt,
    Verdict_Proceed,
)

DEFAULTS = {
    "rings": ["lab", "pilot", "fleet"],
    "soak_hours": 24,
    "min_finished": 5,
    "max_failure_rate": 0.1,
    "meeting_hours": {"start": 7, "end": 19},
}
DAY = 86400


class ConfigError(Exception):
    pass


def parse(text):
    try:
        given = json.loads(text)
    except ValueError as e:
        raise ConfigError(f"configuration is not JSON: {e}")
    if not isinstance(given, dict):
        raise ConfigError("configuration must be a JSON object")
    unknown = set(given) - set(DEFAULTS)
    if unknown:
        raise ConfigError(f"unknown field(s): {', '.join(sorted(unknown))}")
    config = dict(DEFAULTS, **given)
    rings = config["rings"]
    if not (isinstance(rings, list) and rings and all(isinstance(r, str) and r for r in rings)):
        raise ConfigError("`rings` must be a non-empty list of ring names")
    if len(set(rings)) != len(rings):
        raise ConfigError("`rings` names a ring twice")
    for name in ("soak_hours", "min_finished"):
        value = config[name]
        if not (isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0):
            raise ConfigError(f"`{name}` must be a number of at least 0")
    rate = config["max_failure_rate"]
    if not (isinstance(rate, (int, float)) and 0 <= rate < 1):
        raise ConfigError("`max_failure_rate` must be at least 0 and below 1")
    hours = config["meeting_hours"]
    if hours is not None:
        if not (isinstance(hours, dict) and set(hours) == {"start", "end"}):
            raise ConfigError("`meeting_hours` must be {\"start\": H, \"end\": H} or null")
        if not all(isinstance(hours[k], int) and 0 <= hours[k] <= 24 for k in hours):
            raise ConfigError("`meeting_hours` start and end are hours from 0 to 24")
        if hours["start"] >= hours["end"]:
            raise ConfigError("`meeting_hours` must start before they end")
    return config


def ring_of(device, rings):
    for tag in device.tags:
        if tag.startswith("ring:") and tag[5:] in rings:
            return rings.index(tag[5:])
    return len(rings) - 1


def spread(device_id, seconds):
    """A stable per-room share of `seconds`, so rooms do not return together."""
    h = 0
    for ch in device_id:
        h = (h * 131 + ord(ch)) % 1000003
    return (h % 1000) * seconds // 1000


class Rollout(exports.Rollout):
    def validate(self, config: str) -> None:
        try:
            parse(config)
        except ConfigError as e:
            raise Err(str(e))

    def describe(self, config: str) -> Description:
        """What `review` and `decide` enforce, for the dashboard's failure bound
        and the simulator's window checks: the plain failure rate of the ring
        (rejections counted), and the hours outside meetings as windows."""
        try:
            config = parse(config)
        except ConfigError as e:
            raise Err(str(e))
        windows = []
        hours = config["meeting_hours"]
        if hours is not None:
            weekdays = bytes([0, 1, 2, 3, 4])  # a list<u8> is bytes in Python
            if hours["start"] > 0:
                windows.append(Window(days=weekdays, start_minute=0, end_minute=hours["start"] * 60))
            if hours["end"] < 24:
                windows.append(Window(days=weekdays, start_minute=hours["end"] * 60, end_minute=1440))
            # A window whose end is its start lasts the whole day.
            windows.append(Window(days=bytes([5, 6]), start_minute=0, end_minute=0))
        return Description(
            failures=FailureGate(
                max_rate=float(config["max_failure_rate"]),
                min_sample=max(1, math.ceil(config["min_finished"])),
                test=RateTest_Observed(),
                counts_rejected=True,
                counts_rolled_back=False,
            ),
            windows=windows,
            blackouts=[],
            max_in_flight=None,
        )

    def decide(self, device: Device, campaign: Campaign, stats: Stats, now: int) -> Decision:
        try:
            config = parse(campaign.config)
        except ConfigError as e:
            return Decision_Skip(str(e))
        rings = config["rings"]
        ring = ring_of(device, rings)
        if ring > campaign.stage:
            return Decision_Skip(f"ring {rings[ring]} opens after ring {rings[min(campaign.stage, len(rings) - 1)]}")
        hours = config["meeting_hours"]
        if hours is not None:
            local = now + 60 * (device.utc_offset_minutes or 0)
            weekday = (local // DAY + 3) % 7  # 0 = Monday
            hour = (local % DAY) // 3600
            if weekday < 5 and hours["start"] <= hour < hours["end"]:
                end = local - local % DAY + hours["end"] * 3600
                wait = end - local + spread(device.id, 1800)
                return Decision_Defer(Deferral(
                    seconds=int(wait),
                    reason=f"window: meeting hours, rooms are in use until {hours['end']:02d}:00 local",
                ))
        return Decision_Offer()

    def review(self, campaign: Campaign, stats: Stats, now: int) -> Verdict:
        try:
            config = parse(campaign.config)
        except ConfigError as e:
            return Verdict_Halt(str(e))
        if stats.total.rejected > 0:
            return Verdict_Halt(f"{stats.total.rejected} room(s) rejected the release: it failed verification")
        ring = stats.step
        failed = ring.failed + ring.rejected
        finished = ring.succeeded + failed
        if finished >= max(1, config["min_finished"]) and failed / finished > config["max_failure_rate"]:
            return Verdict_Halt(
                f"{failed} of {finished} rooms in ring {config['rings'][min(campaign.stage, len(config['rings']) - 1)]} failed"
            )
        if campaign.stage + 1 >= len(config["rings"]):
            return Verdict_Proceed()
        soaked = now - campaign.stage_started_at >= config["soak_hours"] * 3600
        if soaked and finished >= config["min_finished"]:
            return Verdict_Advance(campaign.stage + 1)
        return Verdict_Proceed()
