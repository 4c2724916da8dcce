//! Repartitioning again: a task's rows at the input of a keyed operator whose key the
//! routing before it does not serve (a cut stream), sent by that operator's key to the
//! tasks' parts that read the stream.
//!
//! The messages are those of the first repartition ([`crate::repartition`]): the sending task
//! is the origin, and a row's offset is its number in the task's output. They are sent only
//! once the checkpoint covering them completed, and kept in that checkpoint until then: a
//! task that resumes sends again what its checkpoint holds (the reading part drops the rows
//! it had by their numbers) and then only rows made after it. So each row arrives once
//! whatever the operators before it emit when they run again, as with Flink's two-phase-commit
//! sinks.

use std::sync::Arc;

use arrow::array::{Int64Array, UInt64Array};
use rdkafka::producer::{DefaultProducerContext, ThreadedProducer};
use rill_engine::batch::ChangeBatch;
use rill_engine::checkpoint::State;
use rill_engine::exchange::KeyPartitioner;
use rill_engine::sink::Sink;
use rill_engine::time::{MAX_WATERMARK, NO_WATERMARK, Watermark};
use rill_engine::{EngineError, Result};
use serde::{Deserialize, Serialize};

use crate::repartition::{END, ROWS, Repartition, WATERMARK, encode, send, with_origin_columns};

/// A message to send: the partition, and the value.
type Outgoing = (usize, Vec<u8>);

/// Sends a task's rows to the next stage's tasks, by key, once each checkpoint completed.
pub struct StageSink {
    name: String,
    repartition: Repartition,
    /// The sending task, as the next stage knows it.
    origin: String,
    producer: ThreadedProducer<DefaultProducerContext>,
    partitioner: KeyPartitioner,
    progress: Progress,
    /// The messages since the last checkpoint.
    open: Vec<Outgoing>,
    /// The messages of checkpoints made but not known to be complete, oldest first.
    made: Vec<(u64, Vec<Outgoing>)>,
}

/// Where the task's output is, as checkpointed.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Progress {
    /// The number of the next row.
    next: i64,
    /// The input's watermark.
    watermark: Watermark,
    /// The watermark each partition was last sent.
    announced: Vec<Watermark>,
    /// The input ended, and every task was told.
    ended: bool,
}

impl StageSink {
    /// Sends the rows of task `origin` into `repartition`'s topic, split by `partitioner`.
    pub fn new(
        repartition: Repartition,
        origin: impl Into<String>,
        partitioner: KeyPartitioner,
    ) -> Result<Self> {
        assert_eq!(partitioner.parts(), repartition.partitions, "a part a task");
        let producer = repartition.producer()?;
        let origin = origin.into();
        Ok(StageSink {
            name: format!("repartition {} of {origin}", repartition.topic),
            progress: Progress {
                next: 0,
                watermark: NO_WATERMARK,
                announced: vec![NO_WATERMARK; repartition.partitions],
                ended: false,
            },
            repartition,
            origin,
            producer,
            partitioner,
            open: Vec::new(),
            made: Vec::new(),
        })
    }

    /// Sends `messages` and waits until the brokers took them. (The first half is waited
    /// for alone, where the recovery tests crash a task that sent part of a checkpoint's.)
    fn send_all(&self, messages: &[&Outgoing]) -> Result<()> {
        let half = messages.len() / 2;
        for (n, (part, value)) in messages.iter().enumerate() {
            if n == half && n > 0 {
                self.repartition.flush(&self.producer)?;
                rill_engine::fault::point("stage-sent-half");
            }
            send(
                &self.producer,
                &self.repartition,
                *part,
                &self.origin,
                value,
            )?;
        }
        self.repartition.flush(&self.producer)
    }
}

impl Sink for StageSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn is_output(&self) -> bool {
        false
    }

    fn on_batch(&mut self, batch: &ChangeBatch) -> Result<()> {
        let rows = batch.num_rows() as i64;
        let first = self.progress.next;
        self.progress.next += rows;
        let offsets = Int64Array::from_iter_values(first..first + rows);
        let stamps = match &batch.watermarks {
            Some(stamps) => stamps.clone(),
            None => Int64Array::from(vec![self.progress.watermark; rows as usize]),
        };
        let batch = with_origin_columns(batch, offsets, stamps)?;
        let watermark = self.progress.watermark;
        for (part, rows) in self.partitioner.split(&batch)?.into_iter().enumerate() {
            if let Some(rows) = rows {
                self.open
                    .push((part, encode(ROWS, watermark, Some(&rows.data))?));
                self.progress.announced[part] = watermark;
            }
        }
        Ok(())
    }

    fn on_watermark(&mut self, watermark: Watermark) -> Result<()> {
        self.progress.watermark = self.progress.watermark.max(watermark);
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        self.progress.watermark = MAX_WATERMARK;
        Ok(())
    }

    fn snapshot(&mut self, id: u64) -> Result<State> {
        // A checkpoint's last messages carry the watermark; the one at the end tells every
        // task the input ended.
        let progress = &mut self.progress;
        let end = id == u64::MAX && !progress.ended;
        for (part, announced) in progress.announced.iter_mut().enumerate() {
            if end {
                self.open.push((part, encode(END, MAX_WATERMARK, None)?));
            } else if progress.watermark > *announced {
                self.open
                    .push((part, encode(WATERMARK, progress.watermark, None)?));
            }
            *announced = progress.watermark;
        }
        progress.ended |= end;
        self.made.push((id, std::mem::take(&mut self.open)));
        let mut state = State::new();
        state.put("progress", &self.progress)?;
        let messages = self.made.iter().flat_map(|(_, m)| m);
        let parts: UInt64Array = messages.clone().map(|(p, _)| *p as u64).collect();
        let rows = parts.len();
        state.put_columns("parts", vec![Arc::new(parts)], rows)?;
        state.put_byte_strings("messages", messages.map(|(_, v)| v.as_slice()))?;
        Ok(state)
    }

    fn commit(&mut self, id: u64) -> Result<()> {
        let done = self.made.iter().take_while(|(made, _)| *made <= id).count();
        let done: Vec<_> = self.made.drain(..done).collect();
        self.send_all(&done.iter().flat_map(|(_, m)| m).collect::<Vec<_>>())
    }

    fn restore(&mut self, state: &State) -> Result<()> {
        self.progress = state.get("progress")?;
        let (columns, _) = state.columns("parts")?;
        let parts = (columns.first())
            .and_then(|c| c.as_any().downcast_ref::<UInt64Array>())
            .ok_or_else(|| EngineError::Other("a damaged repartition checkpoint".into()))?;
        let values = state.byte_strings("messages")?;
        let messages: Vec<Outgoing> = (parts.values().iter())
            .zip(values.iter())
            .map(|(p, v)| (*p as usize, v.to_vec()))
            .collect();
        // What the checkpoint covers may not all have been sent: the next stage drops what was.
        self.send_all(&messages.iter().collect::<Vec<_>>())
    }
}
