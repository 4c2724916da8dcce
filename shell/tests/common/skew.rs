//! A stream from devices whose clocks are off by minutes, for the clock-skew tests: per event,
//! the device, its time and send time by the device's clock and the receive time by the
//! server's, in receive order, with the event's true time beside it. Networks delay 3 events
//! in 10 (and each device's first) by under 400 ms, the others by up to 4 s. True times fall
//! on half seconds, so a correction by a recent fast event's delay keeps every event in its
//! true second and minute, while one by the event's own delay (the last difference) would not.

// Each test file uses a part of it.
#![allow(dead_code)]

/// One event.
pub struct Reading {
    pub device: usize,
    /// `devN,device time,send time,receive time`.
    pub row: String,
    /// `devN,true time`.
    pub truth: String,
}

/// The clock offsets of the devices, in ms.
const OFFSETS: [i64; 6] = [-300_000, -95_000, -20_000, 0, 45_000, 240_000];

/// Events over `seconds` seconds from 2024-01-01 01:00 (so that clocks behind by minutes
/// stay in the same day), in receive order.
pub fn skewed_readings(seconds: i64) -> Vec<Reading> {
    let mut rng = fastrand::Rng::with_seed(11);
    let start: i64 = 1_704_067_200_000;
    let mut events = Vec::new();
    let mut seen = [false; OFFSETS.len()];
    for second in 0..seconds {
        for _ in 0..rng.usize(0..8) {
            let device = rng.usize(0..OFFSETS.len());
            let truth = start + 3_600_000 + second * 1000 + 500;
            let sent = truth + rng.i64(0..50);
            let fast = !std::mem::replace(&mut seen[device], true) || rng.u32(0..10) < 3;
            let delay = if fast {
                rng.i64(0..400)
            } else {
                rng.i64(400..4000)
            };
            events.push((sent + delay, device, truth, sent));
        }
    }
    events.sort();
    let time = |millis: i64| {
        let (s, ms) = ((millis - start) / 1000, (millis - start).rem_euclid(1000));
        let day = 1 + s.div_euclid(86_400);
        let s = s.rem_euclid(86_400);
        format!(
            "2024-01-{day:02} {:02}:{:02}:{:02}.{ms:03}",
            s / 3600,
            s / 60 % 60,
            s % 60
        )
    };
    events
        .into_iter()
        .map(|(received, device, truth, sent)| {
            let offset = OFFSETS[device];
            Reading {
                device,
                row: format!(
                    "dev{device},{},{},{}",
                    time(truth + offset),
                    time(sent + offset),
                    time(received)
                ),
                truth: format!("dev{device},{}", time(truth)),
            }
        })
        .collect()
}

/// The count of events per minute, as `SELECT window_start, window_end, COUNT(*)` over a
/// one-minute TUMBLE of `table` by `time` gives it.
pub fn per_minute(table: &str, time: &str) -> String {
    format!(
        "SELECT window_start, window_end, COUNT(*) FROM TABLE(TUMBLE(TABLE {table}, \
         DESCRIPTOR({time}), INTERVAL '1' MINUTE)) GROUP BY window_start, window_end"
    )
}

/// The DDL of `readings` (over `connector_options`) with the corrected `event_time`, and a
/// watermark on `rowtime`.
pub fn readings_ddl(rowtime: &str, connector_options: &str) -> String {
    format!(
        "CREATE TABLE readings (device STRING, device_time TIMESTAMP(3), \
         sent_at TIMESTAMP(3), received_at TIMESTAMP(3), \
         event_time AS SKEW_CORRECTED(device_time, sent_at, received_at, device, 50), \
         WATERMARK FOR {rowtime} AS {rowtime} - INTERVAL '5' SECOND) \
         WITH ({connector_options});\n"
    )
}
