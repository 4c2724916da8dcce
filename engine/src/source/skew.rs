//! Clock-skew correction: a device's clock is off, so the event times it stamps are too. From
//! three times per event — the event time and the send time by the device's clock, the
//! receive time by the server's — the offset of each device's clock is estimated and its
//! event times corrected (`SKEW_CORRECTED(event, sent, received, device [, n])` as a table's
//! computed column).
//!
//! `received − sent` is the network and queueing delay less the device's offset, so it is
//! never below the true difference: the estimate is its minimum over the device's last `n`
//! events (the event itself included), which holds as long as one of them travelled fast, and
//! follows a clock that drifts. The corrected time is `event + estimate`: the true event time
//! plus the smallest recent delay. The minimum over a sliding window is kept in a monotonic
//! queue, so each event costs O(1) amortised; rows are taken in the order the source reads
//! them, so a replay corrects them alike.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, Int64Array, RecordBatch, TimestampMillisecondArray,
    UInt64Array,
};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Int64Type, TimeUnit};
use arrow::row::{RowConverter, SortField};

use crate::checkpoint::State;
use crate::{EngineError, Result};

/// Which stored columns `SKEW_CORRECTED` reads, and over how many events it estimates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkewColumns {
    /// The event time by the device's clock.
    pub event: usize,
    /// The send time by the device's clock.
    pub sent: usize,
    /// The receive time by the server's clock.
    pub received: usize,
    /// What names the device (any type).
    pub device: usize,
    /// How many of a device's last events the estimate is over.
    pub events: usize,
}

/// A device's last events' differences `received − sent` (ms), as a queue of candidates for
/// the minimum: increasing differences, each with its event's number.
#[derive(Debug, Default, Clone)]
struct Device {
    events: u64,
    candidates: VecDeque<(u64, i64)>,
}

impl Device {
    /// Takes the next event's difference; the minimum over the last `window` events.
    fn estimate(&mut self, difference: i64, window: usize) -> i64 {
        let n = self.events;
        self.events += 1;
        while self
            .candidates
            .back()
            .is_some_and(|(_, d)| *d >= difference)
        {
            self.candidates.pop_back();
        }
        self.candidates.push_back((n, difference));
        while self
            .candidates
            .front()
            .is_some_and(|(i, _)| i + window as u64 <= n)
        {
            self.candidates.pop_front();
        }
        self.candidates.front().expect("the event itself").1
    }
}

/// The corrected event times of one source's rows (see the module documentation).
pub struct SkewCorrection {
    columns: SkewColumns,
    devices: HashMap<Box<[u8]>, Device>,
    /// The device column's type, and its row encoder.
    device: DataType,
    converter: RowConverter,
}

impl std::fmt::Debug for SkewCorrection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SkewCorrection")
            .field("columns", &self.columns)
            .field("devices", &self.devices.len())
            .finish()
    }
}

impl SkewCorrection {
    /// A correction of rows whose device column has type `device`.
    pub fn new(columns: SkewColumns, device: DataType) -> Result<Self> {
        if columns.events == 0 {
            return Err(EngineError::Other(
                "SKEW_CORRECTED estimates over at least one event".into(),
            ));
        }
        Ok(SkewCorrection {
            columns,
            devices: HashMap::new(),
            converter: RowConverter::new(vec![SortField::new(device.clone())])?,
            device,
        })
    }

    /// The same correction with no device seen yet.
    pub fn fresh(&self) -> Result<Self> {
        Self::new(self.columns.clone(), self.device.clone())
    }

    /// The corrected event time of each row of `stored` (NULL where a time is NULL: such a
    /// row does not move its device's estimate), as milliseconds.
    pub fn correct(&mut self, stored: &RecordBatch) -> Result<ArrayRef> {
        let millis = |i: usize| -> Result<ArrayRef> {
            let column = stored.column(i);
            let millis = cast(column, &DataType::Timestamp(TimeUnit::Millisecond, None))?;
            Ok(cast(&millis, &DataType::Int64)?)
        };
        let (event, sent, received) = (
            millis(self.columns.event)?,
            millis(self.columns.sent)?,
            millis(self.columns.received)?,
        );
        let (event, sent, received) = (
            event.as_primitive::<Int64Type>(),
            sent.as_primitive::<Int64Type>(),
            received.as_primitive::<Int64Type>(),
        );
        let devices = self
            .converter
            .convert_columns(&[stored.column(self.columns.device).clone()])?;
        let window = self.columns.events;
        let corrected = (0..stored.num_rows()).map(|row| {
            if event.is_null(row) || sent.is_null(row) || received.is_null(row) {
                return None;
            }
            let key = devices.row(row);
            let device = match self.devices.get_mut(key.as_ref()) {
                Some(device) => device,
                None => self.devices.entry(key.as_ref().into()).or_default(),
            };
            let offset = device.estimate(received.value(row) - sent.value(row), window);
            Some(event.value(row) + offset)
        });
        Ok(Arc::new(TimestampMillisecondArray::from_iter(corrected)))
    }

    /// Puts every device's recent differences under `name`, for a checkpoint.
    pub fn snapshot(&self, state: &mut State, name: &str) -> Result<()> {
        let mut devices: Vec<(&Box<[u8]>, &Device)> = self.devices.iter().collect();
        devices.sort_unstable_by_key(|(key, _)| *key);
        let (mut owners, mut numbers, mut differences) = (Vec::new(), Vec::new(), Vec::new());
        for (i, (_, device)) in devices.iter().enumerate() {
            for (n, d) in &device.candidates {
                owners.push(i as u64);
                numbers.push(*n);
                differences.push(*d);
            }
        }
        let keys: Vec<&[u8]> = devices.iter().map(|(key, _)| key.as_ref()).collect();
        let events: Vec<u64> = devices.iter().map(|(_, device)| device.events).collect();
        state.put_columns(
            &format!("{name}.devices"),
            vec![
                Arc::new(BinaryArray::from_vec(keys)),
                Arc::new(UInt64Array::from(events)),
            ],
            devices.len(),
        )?;
        let entries = owners.len();
        state.put_columns(
            &format!("{name}.candidates"),
            vec![
                Arc::new(UInt64Array::from(owners)),
                Arc::new(UInt64Array::from(numbers)),
                Arc::new(Int64Array::from(differences)),
            ],
            entries,
        )
    }

    /// Takes back the state of [`SkewCorrection::snapshot`].
    pub fn restore(&mut self, state: &State, name: &str) -> Result<()> {
        let unreadable = || EngineError::Other(format!("checkpoint state '{name}' is damaged"));
        let ([keys, events], _) = state.columns_of(&format!("{name}.devices"))?;
        let (keys, events) = (
            keys.as_binary_opt::<i32>().ok_or_else(unreadable)?,
            events.as_primitive_opt().ok_or_else(unreadable)?,
        );
        let events: &UInt64Array = events;
        let mut devices: Vec<(Box<[u8]>, Device)> = (0..keys.len())
            .map(|i| {
                let device = Device {
                    events: events.value(i),
                    candidates: VecDeque::new(),
                };
                (keys.value(i).into(), device)
            })
            .collect();
        let ([owners, numbers, differences], _) =
            state.columns_of(&format!("{name}.candidates"))?;
        let owners: &UInt64Array = owners.as_primitive_opt().ok_or_else(unreadable)?;
        let numbers: &UInt64Array = numbers.as_primitive_opt().ok_or_else(unreadable)?;
        let differences: &Int64Array = differences.as_primitive_opt().ok_or_else(unreadable)?;
        for i in 0..owners.len() {
            let (_, device) = (devices.get_mut(owners.value(i) as usize)).ok_or_else(unreadable)?;
            (device.candidates).push_back((numbers.value(i), differences.value(i)));
        }
        self.devices = devices.into_iter().collect();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::StringArray;

    use super::*;

    /// Rows `(device, event, sent, received)` with times in ms.
    fn rows(rows: &[(&str, i64, i64, i64)]) -> RecordBatch {
        let times = |f: fn(&(&str, i64, i64, i64)) -> i64| -> ArrayRef {
            Arc::new(TimestampMillisecondArray::from_iter_values(
                rows.iter().map(f),
            ))
        };
        RecordBatch::try_from_iter([
            (
                "device",
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))) as ArrayRef,
            ),
            ("event", times(|r| r.1)),
            ("sent", times(|r| r.2)),
            ("received", times(|r| r.3)),
        ])
        .unwrap()
    }

    fn correction() -> SkewCorrection {
        let columns = SkewColumns {
            event: 1,
            sent: 2,
            received: 3,
            device: 0,
            events: 2,
        };
        SkewCorrection::new(columns, DataType::Utf8).unwrap()
    }

    fn millis(array: ArrayRef) -> Vec<i64> {
        let array = cast(&array, &DataType::Int64).unwrap();
        array.as_primitive::<Int64Type>().values().to_vec()
    }

    #[test]
    fn each_device_is_corrected_by_its_least_recent_difference_and_a_restore_goes_on() {
        // Device a's clock is 60 s ahead, b's 30 s behind; delays 5, 1, 9, 2 ms.
        let first = rows(&[
            ("a", 60_000, 60_100, 105),
            ("b", -30_000, -29_800, 201),
            ("a", 61_000, 61_100, 1_109),
        ]);
        let second = rows(&[("a", 62_000, 62_100, 2_102), ("b", -29_000, -28_900, 1_101)]);
        let mut skew = correction();
        let corrected = millis(skew.correct(&first).unwrap());
        // a: offsets 105−60100 = −59995, then min(−59995, −59991); b: 201+29800 = 30001.
        assert_eq!(corrected, [5, 1, 1_005]);
        let mut state = State::new();
        skew.snapshot(&mut state, "skew").unwrap();
        let expected = millis(skew.correct(&second).unwrap());
        // a's last two: −59991, −59998 (the first fell out); b's: 30001, 30001.
        assert_eq!(expected, [2_002, 1_001]);
        let mut restored = correction();
        restored.restore(&state, "skew").unwrap();
        assert_eq!(millis(restored.correct(&second).unwrap()), expected);
    }

    #[test]
    fn the_estimate_is_the_least_difference_of_the_last_events() {
        let mut device = Device::default();
        let estimates: Vec<i64> = [50, 30, 40, 60, 70, 20, 90]
            .into_iter()
            .map(|d| device.estimate(d, 3))
            .collect();
        // Windows: [50] [50,30] [50,30,40] [30,40,60] [40,60,70] [60,70,20] [70,20,90].
        assert_eq!(estimates, [50, 30, 30, 30, 40, 20, 20]);
    }
}
