//! Running a job shared by the processes of a consumer group (`'rill.scale-out'` = `'true'`).
//!
//! Every process runs the same statement. The group splits the Kafka tables' partitions and
//! the partitions of the job's repartition topics (one per table scanned) between them: a
//! process reads the tables' partitions it is given and routes their rows (stage 1), and
//! runs one task per repartition partition number it is given (stage 2), each a dataflow
//! with its own checkpoints under `'execution.checkpointing.dir'`/`task-N`. A job whose
//! keyed operators are cut (repartitioned again, see [`crate::plan::shared::Cut`]) runs each
//! task in parts: one up to each cut stream (`task-N-cut-C`), sending its rows on to the
//! partitions of that stream's topic, and one up to the output, each reading the task's
//! partitions of the streams under it. When the group rebalances,
//! every task stops at a savepoint before its partition moves, and its next owner resumes
//! from it; when a process dies, its tasks resume from their last checkpoint elsewhere. The
//! job is done when every task finished.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use rill_engine::JobMetrics;

use crate::session::{Session, SharedJob};

/// Resolves when the process is asked to stop (SIGTERM).
pub type StopRequest<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// Runs this process's share of `job` until every task of the job finished (bounded
/// input), the job fails, or `stop` resolves (then its tasks stop at savepoints, for the
/// processes left to resume); `report` is told what the process takes on and gives up, and
/// every part of it counts into `metrics`.
pub async fn run(
    session: &Session,
    job: &SharedJob,
    report: &(dyn Fn(String) + Sync),
    stop: StopRequest<'_>,
    metrics: Arc<JobMetrics>,
) -> Result<(), String> {
    #[cfg(feature = "kafka")]
    return supervisor::run(session, job, report, stop, metrics)
        .await
        .map_err(|e| e.to_string());
    #[cfg(not(feature = "kafka"))]
    {
        let _ = (session, job, report, stop, metrics);
        Err("this rill was built without its Kafka client: build it with --features kafka".into())
    }
}

#[cfg(feature = "kafka")]
mod supervisor {
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::{Path, PathBuf};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use rill_engine::JobMetrics;
    use rill_engine::checkpoint::CheckpointStore;
    use rill_engine::exchange::KeyPartitioner;
    use rill_engine::{Dataflow, EngineError};
    use rill_kafka::repartition::{
        GroupEvent, Repartition, RepartitionSource, Router, join_group, read_progress,
        table_partitions,
    };
    use rill_kafka::stage::StageSink;
    use tokio::sync::{mpsc, oneshot};
    use tokio::task::JoinHandle;

    use crate::connector::Connector;
    use crate::error::SqlError;
    use crate::plan::shared::{Cut, CutSink, CutSource, Scan, SharedPlan, TaskSource};
    use crate::session::{CHECKPOINT_DIR, Session, SharedJob};

    /// A part of the job this process runs, and how to stop it.
    struct Running {
        stop: oneshot::Sender<()>,
        done: JoinHandle<Result<(), EngineError>>,
    }

    /// Runs `dataflow` until it ends, or stops it at a savepoint when asked (a task) or at
    /// once (stage 1, `savepoint` false); `None` when its checkpoint says it finished. With
    /// the checkpoint it resumed from, if any.
    fn start(
        mut dataflow: Dataflow,
        savepoint: bool,
    ) -> Result<Option<(Running, Option<u64>)>, EngineError> {
        let resumed = dataflow.resume()?;
        if resumed.as_ref().is_some_and(|r| r.finished) {
            return Ok(None);
        }
        let (stop, stopped) = oneshot::channel();
        let mut job = dataflow.start();
        let done = tokio::spawn(async move {
            tokio::select! {
                result = job.wait() => result,
                _ = stopped => match savepoint {
                    true => job.stop_with_savepoint().await.map(drop),
                    false => {
                        job.cancel();
                        Ok(())
                    }
                },
            }
        });
        Ok(Some((Running { stop, done }, resumed.map(|r| r.id))))
    }

    /// Stops `running` and waits for it.
    async fn stop(running: Running) -> Result<(), EngineError> {
        let _ = running.stop.send(());
        join(running.done).await
    }

    async fn join(done: JoinHandle<Result<(), EngineError>>) -> Result<(), EngineError> {
        done.await
            .map_err(|e| EngineError::Other(format!("internal error: {e}")))?
    }

    /// A part of a task: the task, and the cut stream the part sends on (`None`: the part
    /// writing the output).
    type TaskPart = (usize, Option<usize>);

    /// Stops stage 1, and every task at a savepoint; the tasks stopped.
    async fn stop_all(
        stage1: &mut Vec<Running>,
        tasks: &mut BTreeMap<TaskPart, Running>,
    ) -> Result<Vec<String>, EngineError> {
        for running in stage1.drain(..) {
            stop(running).await?;
        }
        let mut stopped = Vec::new();
        for ((task, _), running) in std::mem::take(tasks) {
            stop(running).await?;
            stopped.push(task.to_string());
        }
        stopped.dedup();
        Ok(stopped)
    }

    /// Joins the parts that ended: the first error, if any.
    async fn reap(
        stage1: &mut Vec<Running>,
        tasks: &mut BTreeMap<TaskPart, Running>,
    ) -> Result<(), EngineError> {
        while let Some(ended) = stage1.iter().position(|r| r.done.is_finished()) {
            join(stage1.swap_remove(ended).done).await?;
        }
        let ended: Vec<TaskPart> = (tasks.iter())
            .filter(|(_, r)| r.done.is_finished())
            .map(|(t, _)| *t)
            .collect();
        for part in ended {
            let running = tasks.remove(&part).expect("a task");
            join(running.done).await?;
            let (task, cut) = part;
            tracing::info!(task, cut, "task finished");
        }
        Ok(())
    }

    /// `items` as a list for people: `none` when empty.
    fn list(items: &[String]) -> String {
        match items {
            [] => "none".into(),
            items => items.join(", "),
        }
    }

    fn error(e: SqlError) -> EngineError {
        EngineError::Other(e.to_string())
    }

    pub(super) async fn run(
        session: &Session,
        job: &SharedJob,
        report: &(dyn Fn(String) + Sync),
        stop: super::StopRequest<'_>,
        metrics: Arc<JobMetrics>,
    ) -> Result<(), EngineError> {
        let (planned, found) = session
            .plan_shared(job, SharedPlan::default(), None)
            .await
            .map_err(error)?;
        for warning in planned.warnings() {
            tracing::warn!("{warning}");
            report(format!("warning: {warning}"));
        }
        let tables: Vec<&Scan> = found.tables().collect();
        if tables.is_empty() {
            return Err(EngineError::Other(
                "a shared job reads a Kafka table".into(),
            ));
        }
        let kafka_of = |name: &str| match &session.table(name).expect("a planned table").connector {
            Connector::Kafka(kafka) => kafka.clone(),
            _ => unreachable!("planning refuses other tables"),
        };
        // The first table's brokers and group serve the job.
        let first = kafka_of(&tables[0].table);
        let group = first.group_id().ok_or_else(|| {
            EngineError::Other(format!(
                "table '{}': a shared job needs 'properties.group.id', the group its \
                 processes join",
                tables[0].table
            ))
        })?;
        let dir = PathBuf::from(session.setting(CHECKPOINT_DIR).ok_or_else(|| {
            EngineError::Other(
                "a shared job moves its tasks' state through checkpoints: set \
                 'execution.checkpointing.interval' and 'execution.checkpointing.dir' (a \
                 directory every process reaches)"
                    .into(),
            )
        })?);
        let id = job_id(&dir)?;
        let mut origins = Vec::with_capacity(tables.len());
        for scan in &tables {
            let kafka = kafka_of(&scan.table);
            if kafka.bootstrap_servers() != first.bootstrap_servers() {
                return Err(EngineError::Other(format!(
                    "a shared job reads tables of one Kafka cluster; '{}' and '{}' name \
                     other brokers",
                    tables[0].table, scan.table
                )));
            }
            origins.push((kafka.clone(), table_partitions(&kafka)?));
        }
        // As many tasks as the largest table has partitions: a task reads one partition
        // of every repartition topic.
        let tasks = origins.iter().map(|(_, o)| o.len()).max().unwrap_or(1);
        let mut streams = Vec::with_capacity(tables.len());
        for (n, (scan, (kafka, origins))) in tables.iter().zip(origins).enumerate() {
            let repartition = Repartition {
                table: kafka.clone(),
                topic: format!("rill-{group}-{id}-repartition-{n}"),
                partitions: tasks,
                origins,
            };
            repartition.create_topic().await?;
            // Without a key, every row goes to one task. The key is computed before the
            // statement's filters: a row it fails for goes to a task that meets it as a
            // single process would.
            let keys = scan.routing.clone().unwrap_or_default();
            let partitioner = KeyPartitioner::new(keys, tasks).tolerating_errors();
            tracing::info!(
                table = %scan.table,
                topic = %repartition.topic,
                tasks,
                key = %partitioner.describe(),
                "sharing the job"
            );
            streams.push(Stream {
                index: n,
                table: scan.table.clone(),
                projection: scan.projection.clone(),
                repartition,
                partitioner,
            });
        }
        // Each cut stream's topic: each task is an origin of each.
        let mut cuts = Vec::with_capacity(found.cuts.len());
        for (n, cut) in found.cuts.iter().enumerate() {
            let repartition = Repartition {
                table: first.clone(),
                topic: format!("rill-{group}-{id}-repartition-{}", streams.len() + n),
                partitions: tasks,
                origins: (0..tasks).map(|t| format!("task-{t}")).collect(),
            };
            repartition.create_topic().await?;
            tracing::info!(
                topic = %repartition.topic,
                at = %cut.what,
                "repartitioning the job again"
            );
            cuts.push(repartition);
        }
        let mut topics: BTreeSet<String> = BTreeSet::new();
        for stream in &streams {
            topics.insert(stream.repartition.topic.clone());
            topics.extend(
                (stream.repartition.origins.iter())
                    .filter_map(|o| o.rsplit_once('-').map(|(t, _)| t.to_string())),
            );
        }
        let (events_tx, mut events) = mpsc::unbounded_channel();
        let leave = Arc::new(AtomicBool::new(false));
        let member = join_group(
            &first,
            topics.into_iter().collect(),
            events_tx,
            leave.clone(),
        )?;
        let parts = Parts {
            session,
            job,
            streams: &streams,
            cuts: &found.cuts,
            cut_topics: &cuts,
            tasks,
            dir: &dir,
            report,
            metrics,
        };
        let result = parts.supervise(&mut events, stop).await;
        leave.store(true, Ordering::Relaxed);
        // Answer a revocation the group may be waiting on, so the member can leave.
        events.close();
        while let Ok(event) = events.try_recv() {
            if let GroupEvent::Revoked(done) = event {
                let _ = done.send(());
            }
        }
        let _ = tokio::task::spawn_blocking(move || member.join()).await;
        result
    }

    /// The job's identity in its checkpoint directory: made by the first process, read by
    /// the others, so that a fresh directory means a fresh repartition topic.
    fn job_id(dir: &Path) -> Result<String, EngineError> {
        let io = |e: std::io::Error| EngineError::Other(format!("{}: {e}", dir.display()));
        std::fs::create_dir_all(dir).map_err(io)?;
        let path = dir.join("shared-job");
        let id = format!(
            "{:x}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos()
        );
        let temporary = dir.join(format!(".shared-job.{id}"));
        std::fs::write(&temporary, &id).map_err(io)?;
        // A hard link fails if another process made the file first: then its id is the job's.
        let made = std::fs::hard_link(&temporary, &path);
        let _ = std::fs::remove_file(&temporary);
        match made {
            Ok(()) => Ok(id),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                std::fs::read_to_string(&path).map_err(io)
            }
            Err(e) => Err(io(e)),
        }
    }

    /// A table the job reads, and how its rows are repartitioned.
    struct Stream {
        /// The scan's place in planning order.
        index: usize,
        table: String,
        projection: Option<Vec<usize>>,
        repartition: Repartition,
        partitioner: KeyPartitioner,
    }

    /// What this process needs to start its parts of the job.
    struct Parts<'a> {
        session: &'a Session,
        job: &'a SharedJob,
        streams: &'a [Stream],
        /// The cut streams.
        cuts: &'a [Cut],
        /// Their topics.
        cut_topics: &'a [Repartition],
        /// How many tasks the job has.
        tasks: usize,
        dir: &'a Path,
        report: &'a (dyn Fn(String) + Sync),
        /// What every part counts into: stage 1 of scan N as part N, task N after them.
        metrics: Arc<JobMetrics>,
    }

    impl Parts<'_> {
        /// Follows the group's rebalances until every task of the job finished.
        async fn supervise(
            &self,
            events: &mut mpsc::UnboundedReceiver<GroupEvent>,
            mut stopping: super::StopRequest<'_>,
        ) -> Result<(), EngineError> {
            let mut stage1: Vec<Running> = Vec::new();
            let mut tasks: BTreeMap<TaskPart, Running> = BTreeMap::new();
            let mut tick = tokio::time::interval(Duration::from_millis(500));
            loop {
                tokio::select! {
                    event = events.recv() => match event {
                        Some(GroupEvent::Assigned(partitions)) => {
                            let held: BTreeSet<String> =
                                partitions.iter().map(|(t, p)| format!("{t}-{p}")).collect();
                            for stream in self.streams {
                                let own: Vec<&String> = (stream.repartition.origins.iter())
                                    .filter(|o| held.contains(*o))
                                    .collect();
                                if let Some(running) = self.start_stage1(stream, &own).await? {
                                    stage1.push(running);
                                }
                            }
                            let own = self.own_tasks(&partitions)?;
                            let mut resumed = Vec::new();
                            let parts: Vec<Option<usize>> =
                                (0..self.cuts.len()).map(Some).chain([None]).collect();
                            for &task in &own {
                                for &cut in &parts {
                                    let Some((running, from)) = self.start_task(task, cut).await?
                                    else {
                                        continue;
                                    };
                                    tasks.insert((task, cut), running);
                                    if let Some(id) = from {
                                        let part = match cut {
                                            Some(n) => format!(" (up to cut {n})"),
                                            None => String::new(),
                                        };
                                        resumed.push(format!(
                                            "task {task}{part} from checkpoint {id}"
                                        ));
                                    }
                                }
                            }
                            let topics: BTreeSet<&str> = (self.streams.iter())
                                .map(|s| s.repartition.topic.as_str())
                                .collect();
                            let reads: Vec<String> = (partitions.iter())
                                .filter(|(t, _)| !topics.contains(t.as_str()))
                                .map(|(t, p)| format!("{t}-{p}"))
                                .collect();
                            let mut runs: Vec<String> =
                                tasks.keys().map(|(t, _)| t.to_string()).collect();
                            runs.dedup();
                            let mut text = format!(
                                "this process reads {} and runs tasks {} of {}",
                                list(&reads),
                                list(&runs),
                                self.tasks
                            );
                            if !resumed.is_empty() {
                                text.push_str(&format!(" (resuming {})", resumed.join(", ")));
                            }
                            tracing::info!("{text}");
                            (self.report)(text);
                        }
                        Some(GroupEvent::Revoked(done)) => {
                            let stopped = stop_all(&mut stage1, &mut tasks).await?;
                            let text = format!(
                                "the group rebalances: tasks {} stopped at savepoints",
                                list(&stopped)
                            );
                            tracing::info!("{text}");
                            (self.report)(text);
                            let _ = done.send(());
                        }
                        None => return Err(EngineError::Other("left the consumer group".into())),
                    },
                    _ = &mut stopping => {
                        let stopped = stop_all(&mut stage1, &mut tasks).await?;
                        let text = format!(
                            "stopping: tasks {} stopped at savepoints, for the group's other \
                             processes to resume",
                            list(&stopped)
                        );
                        tracing::info!("{text}");
                        (self.report)(text);
                        return Ok(());
                    }
                    _ = tick.tick() => {
                        // A part that failed fails the job: stage 1's rows would never come.
                        if let Err(e) = reap(&mut stage1, &mut tasks).await {
                            tracing::error!(error = %e, "the job failed");
                            let _ = stop_all(&mut stage1, &mut tasks).await;
                            return Err(e);
                        }
                        let all = (0..self.tasks)
                            .all(|t| CheckpointStore::finished_in(&self.dir.join(format!("task-{t}"))));
                        if all {
                            // A finished checkpoint is written before its sinks commit: this
                            // process's tasks end once theirs did (their files renamed, their
                            // Kafka transactions committed).
                            for (_, running) in std::mem::take(&mut tasks) {
                                join(running.done).await?;
                            }
                            for running in stage1.drain(..) {
                                stop(running).await?;
                            }
                            tracing::info!("every task of the job finished");
                            (self.report)("every task of the job finished".into());
                            return Ok(());
                        }
                    }
                }
            }
        }

        /// The tasks this process holds: those whose partition of every repartition topic
        /// the group gave it (a range assignment gives all or none).
        fn own_tasks(&self, partitions: &[(String, i32)]) -> Result<Vec<usize>, EngineError> {
            let held = |stream: &Stream| -> BTreeSet<usize> {
                (partitions.iter())
                    .filter(|(t, _)| *t == stream.repartition.topic)
                    .map(|(_, p)| *p as usize)
                    .collect()
            };
            let own = held(&self.streams[0]);
            if self.streams.iter().any(|s| held(s) != own) {
                return Err(EngineError::Other(
                    "the consumer group gave this process a task's partition of one \
                     repartition topic but not of another: its processes must use the \
                     'range' assignor ('properties.partition.assignment.strategy')"
                        .into(),
                ));
            }
            Ok(own.into_iter().collect())
        }

        /// Stage 1 over `origins` of `stream`'s table, each from its saved progress; `None`
        /// when there are none.
        async fn start_stage1(
            &self,
            stream: &Stream,
            origins: &[&String],
        ) -> Result<Option<Running>, EngineError> {
            if origins.is_empty() {
                return Ok(None);
            }
            let progress_dir = self.dir.join(format!("stage1-{}", stream.index));
            let mut own = BTreeMap::new();
            for origin in origins {
                own.insert(origin.to_string(), read_progress(&progress_dir, origin)?);
            }
            let router = Router::new(
                stream.repartition.clone(),
                stream.partitioner.clone(),
                progress_dir,
            )?;
            let dataflow = self
                .session
                .plan_shared_scan(
                    &stream.table,
                    stream.projection.clone(),
                    SharedPlan::route((own, router))
                        .counting_into(self.metrics.clone(), stream.index),
                )
                .map_err(error)?;
            Ok(start(dataflow, false)?.map(|(running, _)| running))
        }

        /// Task `task`: its partition of the repartition topics through the job's
        /// operators, from its latest checkpoint. With cut streams, the part of the task up
        /// to cut stream `cut` (sending its rows on), or up to the output (`None`).
        async fn start_task(
            &self,
            task: usize,
            cut: Option<usize>,
        ) -> Result<Option<(Running, Option<u64>)>, EngineError> {
            let repartitions: Vec<(String, Repartition)> = (self.streams.iter())
                .map(|s| (s.table.clone(), s.repartition.clone()))
                .collect();
            let source: TaskSource = Arc::new(move |scan, schema, idle| {
                let (table, repartition) = repartitions.get(scan).ok_or_else(|| {
                    SqlError::new("internal error: a task plans another scan than the job")
                })?;
                Ok(Box::new(RepartitionSource::new(
                    format!("task {task} of {table}"),
                    repartition.clone(),
                    task,
                    Some(schema),
                    idle,
                )))
            });
            let mut shared = SharedPlan::task(source);
            if !self.cuts.is_empty() {
                let (to, from) = (self.cut_topics.to_vec(), self.cut_topics.to_vec());
                let sinks: CutSink = Arc::new(move |n, keys| {
                    let repartition = to[n].clone();
                    let partitioner =
                        KeyPartitioner::new(keys, repartition.partitions).tolerating_errors();
                    let sink = StageSink::new(repartition, format!("task-{task}"), partitioner)
                        .map_err(|e| SqlError::new(e.to_string()))?;
                    Ok(Box::new(sink))
                });
                let sources: CutSource = Arc::new(move |n| {
                    Ok(Box::new(RepartitionSource::new(
                        format!("task {task} of cut {n}"),
                        from[n].clone(),
                        task,
                        None,
                        None,
                    )))
                });
                shared = shared.part(self.cuts.to_vec(), cut, sinks, sources);
            }
            // Stage 1's dataflows count as the first parts, then each task's parts.
            let part = self.streams.len() + task + self.tasks * cut.map_or(0, |n| n + 1);
            let (dataflow, _) = self
                .session
                .plan_shared(
                    self.job,
                    shared.counting_into(self.metrics.clone(), part),
                    Some(task),
                )
                .await
                .map_err(error)?;
            start(dataflow, true)
        }
    }
}
