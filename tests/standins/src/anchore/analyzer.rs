//! The analyzer role's worker: polls the state owner for queued images, "analyzes" each one on
//! its own thread name with the Enterprise log lines and the planned duration, reports the
//! outcome, and keeps the analyzer's metrics.

use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::analysis::{self, Job, Step};
use super::client::{OwnerError, TransitionRequest};
use super::image::{AnalysisStatus, AnchoreImage, ContentMetadata, ServiceReference};
use super::logging;
use super::metrics::{Counter, Family, Histogram, ANALYSIS_BUCKETS};
use super::server::Shared;

const JOB_LOCATION: &str = "anchore_enterprise.services.analyzer.analysis/process_analyzer_job()";

/// What `anchore_analyzer_status` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activity {
    /// Polling the queue (the dashboard's "PollingQueue").
    Waiting,
    /// Analyzing an image.
    Processing,
    /// Cannot reach the queue.
    Error,
}

impl Activity {
    fn label(self) -> &'static str {
        match self {
            Activity::Waiting => "waiting",
            Activity::Processing => "processing",
            Activity::Error => "error",
        }
    }
}

pub struct AnalyzerMetrics {
    activity: Mutex<Activity>,
    success: Counter,
    error: Counter,
    time: Histogram,
}

impl Default for AnalyzerMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl AnalyzerMetrics {
    pub fn new() -> AnalyzerMetrics {
        AnalyzerMetrics {
            activity: Mutex::new(Activity::Waiting),
            // The engine creates these with an empty description (FACTS.md §4.1).
            success: Counter::new("anchore_analysis_success", "", &[]),
            error: Counter::new("anchore_analysis_error", "", &[]),
            time: Histogram::new(
                "anchore_analysis_time_seconds",
                "",
                &["status"],
                &ANALYSIS_BUCKETS,
            ),
        }
    }

    pub fn set(&self, a: Activity) {
        *self.activity.lock().unwrap_or_else(|e| e.into_inner()) = a;
    }

    pub fn activity(&self) -> Activity {
        *self.activity.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts a finished analysis and observes its seconds from dequeue to completion.
    pub fn record(&self, success: bool, seconds: f64) {
        if success {
            self.success.inc(&[], 1.0);
            self.time.observe(&["success"], seconds);
        } else {
            self.error.inc(&[], 1.0);
            self.time.observe(&["fail"], seconds);
        }
    }

    pub fn families(&self) -> Vec<Family> {
        let current = self.activity();
        let status = [Activity::Processing, Activity::Waiting, Activity::Error]
            .into_iter()
            .map(|a| {
                let v = if a == current { 1.0 } else { 0.0 };
                (vec![("state".to_string(), a.label().to_string())], v)
            })
            .collect();
        vec![
            Family::gauge("anchore_analyzer_status", "", status),
            self.success.family(),
            self.error.family(),
            self.time.family(),
        ]
    }
}

/// Sleeps until `deadline`; true when told to stop first.
async fn pause_until(deadline: Instant, stop: &mut watch::Receiver<bool>) -> bool {
    if *stop.borrow() {
        return true;
    }
    tokio::select! {
        _ = tokio::time::sleep_until(deadline) => false,
        r = stop.changed() => r.is_err() || *stop.borrow(),
    }
}

fn write(thread: &str, s: &Step) {
    logging::log(thread, s.level, &s.location, &s.message);
}

/// Reports an outcome, retrying briefly when the owner cannot be reached.
async fn report(
    app: &Shared,
    digest: &str,
    req: &TransitionRequest,
) -> Result<AnchoreImage, OwnerError> {
    let mut last = None;
    for attempt in 0..3 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        match app.owner.transition(digest, req).await {
            Ok(img) => return Ok(img),
            Err(e @ OwnerError::Status(..)) => return Err(e),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| OwnerError::Unreachable("no attempt made".into())))
}

fn job_of(img: &AnchoreImage) -> Option<(Job, String)> {
    let d = img.image_detail.first()?;
    Some((
        Job {
            account: img.account_name.clone(),
            digest: img.image_digest.clone(),
            image_id: d.image_id.clone(),
            pull_string: format!("{}/{}@{}", d.registry, d.repo, img.image_digest),
            full_tag: d.full_tag.clone(),
        },
        d.repo.clone(),
    ))
}

/// Analyzes one dequeued image. Returns false when interrupted by shutdown (the image is then
/// back in the queue).
async fn analyze(
    app: &Shared,
    m: &AnalyzerMetrics,
    me: &ServiceReference,
    img: AnchoreImage,
    n: u64,
    stop: &mut watch::Receiver<bool>,
) -> bool {
    let started = Instant::now();
    let thread = format!("Thread-{n}");
    let Some((job, repo)) = job_of(&img) else {
        logging::error(
            &thread,
            &format!("{JOB_LOCATION}:497"),
            &format!(
                "problem analyzing image - exception: image record {} has no image_detail",
                img.image_digest
            ),
        );
        let req = TransitionRequest {
            to: AnalysisStatus::AnalysisFailed,
            source: me.clone(),
            content: None,
        };
        let _ = report(app, &img.image_digest, &req).await;
        m.record(false, started.elapsed().as_secs_f64());
        return true;
    };
    write(&thread, &analysis::dequeued_step(&job));
    let plan = analysis::plan(
        &job.full_tag,
        &img.annotations,
        &app.cfg.image_rules,
        app.cfg.analysis_seconds,
    )
    .unwrap_or_else(|reason| analysis::Plan {
        seconds: 0.0,
        fail: Some(reason),
    });
    let total = Duration::from_secs_f64(plan.seconds);
    let scratch = format!(
        "{}/{}",
        app.cfg
            .scratch_dir
            .display()
            .to_string()
            .trim_end_matches('/'),
        analysis::scratch_uuid(n)
    );
    let steps = analysis::middle_steps(&job, plan.fail.is_some(), app.cfg.hints_enabled, &scratch);
    for s in &steps {
        if pause_until(started + total.mul_f64(s.at), stop).await {
            return requeue(app, me, &job, &thread).await;
        }
        write(&thread, s);
    }
    if pause_until(started + total, stop).await {
        return requeue(app, me, &job, &thread).await;
    }
    match plan.fail {
        None => {
            let content: ContentMetadata = analysis::content_for(&repo, &job.digest);
            let req = TransitionRequest {
                to: AnalysisStatus::Analyzed,
                source: me.clone(),
                content: Some(content),
            };
            match report(app, &job.digest, &req).await {
                Ok(_) => {
                    write(&thread, &analysis::complete_step(&job));
                    m.record(true, started.elapsed().as_secs_f64());
                }
                Err(e) => {
                    // As in the engine: a failure to store results fails the analysis.
                    write(&thread, &analysis::failed_step(&e.to_string()));
                    m.record(false, started.elapsed().as_secs_f64());
                    let req = TransitionRequest {
                        to: AnalysisStatus::AnalysisFailed,
                        source: me.clone(),
                        content: None,
                    };
                    let _ = report(app, &job.digest, &req).await;
                }
            }
        }
        Some(reason) => {
            write(&thread, &analysis::failed_step(&reason));
            m.record(false, started.elapsed().as_secs_f64());
            let req = TransitionRequest {
                to: AnalysisStatus::AnalysisFailed,
                source: me.clone(),
                content: None,
            };
            if let Err(e) = report(app, &job.digest, &req).await {
                logging::warn(
                    &thread,
                    &format!("{JOB_LOCATION}:503"),
                    &format!("could not mark image as failed - exception: {e}"),
                );
            }
        }
    }
    true
}

async fn requeue(app: &Shared, me: &ServiceReference, job: &Job, thread: &str) -> bool {
    let req = TransitionRequest {
        to: AnalysisStatus::NotAnalyzed,
        source: me.clone(),
        content: None,
    };
    let outcome = tokio::time::timeout(
        Duration::from_millis(500),
        app.owner.transition(&job.digest, &req),
    )
    .await;
    let msg = match outcome {
        Ok(Ok(_)) => format!(
            "analysis interrupted by shutdown, image returned to the queue: {} : {}",
            job.account, job.digest
        ),
        _ => format!(
            "analysis interrupted by shutdown, could not return the image to the queue: {} : {}",
            job.account, job.digest
        ),
    };
    logging::warn(thread, &format!("{JOB_LOCATION}:441"), &msg);
    false
}

/// Polls for work until stopped.
pub async fn run(app: Shared, mut stop: watch::Receiver<bool>) {
    let Some(m) = app.analyzer.clone() else {
        return;
    };
    let me = ServiceReference {
        host_id: app.cfg.host_id.clone(),
        service_name: app.cfg.role.service_name().to_string(),
    };
    // Job threads are numbered from 1001 so that grepping one thread name (as the course does
    // with `grep Thread-55181`) cannot also match another job's (Thread-1 would match Thread-10).
    let mut thread_no: u64 = 1000;
    let mut unreachable_logged = false;
    loop {
        if *stop.borrow() {
            return;
        }
        match app.owner.dequeue(&me).await {
            Ok(Some(img)) => {
                unreachable_logged = false;
                m.set(Activity::Processing);
                thread_no += 1;
                let finished = analyze(&app, &m, &me, img, thread_no, &mut stop).await;
                m.set(Activity::Waiting);
                if !finished {
                    return;
                }
                // Look for the next image straight away, as a busy analyzer does.
                continue;
            }
            Ok(None) => {
                unreachable_logged = false;
                m.set(Activity::Waiting);
            }
            Err(e) => {
                m.set(Activity::Error);
                if !unreachable_logged {
                    logging::warn(
                        "Thread-2",
                        "anchore_enterprise.services.analyzer.service/handle_image_analyzer():187",
                        &format!(
                            "failed to check the image analysis queue, will retry - exception: {e}"
                        ),
                    );
                    unreachable_logged = true;
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(app.cfg.poll_interval) => {}
            r = stop.changed() => if r.is_err() || *stop.borrow() { return },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::metrics::render;
    use super::*;

    #[test]
    fn status_gauge_has_one_state_set() {
        let m = AnalyzerMetrics::new();
        let text = render(&m.families());
        assert!(text.contains("anchore_analyzer_status{state=\"waiting\"} 1.0\n"));
        assert!(text.contains("anchore_analyzer_status{state=\"processing\"} 0.0\n"));
        assert!(text.contains("anchore_analyzer_status{state=\"error\"} 0.0\n"));
        m.set(Activity::Processing);
        let text = render(&m.families());
        assert!(text.contains("anchore_analyzer_status{state=\"processing\"} 1.0\n"));
        assert!(text.contains("anchore_analyzer_status{state=\"waiting\"} 0.0\n"));
    }

    #[test]
    fn outcomes_go_to_the_right_series() {
        let m = AnalyzerMetrics::new();
        m.record(true, 3.2);
        m.record(false, 0.4);
        let text = render(&m.families());
        assert!(text.contains("anchore_analysis_success_total 1.0\n"));
        assert!(text.contains("anchore_analysis_error_total 1.0\n"));
        assert!(text.contains("anchore_analysis_time_seconds_sum{status=\"success\"} 3.2\n"));
        assert!(text
            .contains("anchore_analysis_time_seconds_bucket{le=\"1.0\",status=\"success\"} 0.0\n"));
        assert!(text
            .contains("anchore_analysis_time_seconds_bucket{le=\"5.0\",status=\"success\"} 1.0\n"));
        assert!(
            text.contains("anchore_analysis_time_seconds_bucket{le=\"1.0\",status=\"fail\"} 1.0\n")
        );
        assert!(text.contains("anchore_analysis_time_seconds_count{status=\"fail\"} 1.0\n"));
    }
}
