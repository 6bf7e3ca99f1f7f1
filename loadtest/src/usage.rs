//! A server's CPU time and resident memory: from `/proc` for the processes given by PID, or
//! else scraped from its Prometheus endpoints (`process_cpu_seconds_total` and
//! `process_resident_memory_bytes`, the names Prometheus' client libraries export), summed
//! over every process or endpoint given.

use std::time::Duration;

use crate::{cpu, target::Server};

/// What a server has used: CPU seconds so far, resident bytes now (when known).
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    pub cpu_seconds: Option<f64>,
    pub rss_bytes: Option<u64>,
}

pub async fn of(server: &Server) -> Usage {
    if !server.pids.is_empty() {
        return Usage {
            cpu_seconds: server
                .pids
                .iter()
                .map(|&pid| cpu::process_seconds(pid))
                .sum(),
            rss_bytes: server
                .pids
                .iter()
                .map(|&pid| cpu::process_rss_bytes(pid))
                .sum(),
        };
    }
    if server.metrics.is_empty() {
        return Usage::default();
    }
    let mut usage = Usage {
        cpu_seconds: Some(0.0),
        rss_bytes: Some(0),
    };
    for url in &server.metrics {
        let text = scrape(url).await;
        let figure = |name| text.as_deref().and_then(|text| sample(text, name));
        usage.cpu_seconds = usage
            .cpu_seconds
            .zip(figure("process_cpu_seconds_total"))
            .map(|(a, b)| a + b);
        usage.rss_bytes = usage
            .rss_bytes
            .zip(figure("process_resident_memory_bytes"))
            .map(|(a, b)| a + b as u64);
    }
    usage
}

async fn scrape(url: &str) -> Option<String> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .ok()?;
    let answer = client.get(url).send().await.ok()?.error_for_status().ok()?;
    answer.text().await.ok()
}

/// The sum of the samples of metric `name` in Prometheus' text format.
fn sample(text: &str, name: &str) -> Option<f64> {
    let values: Vec<f64> = text
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let rest = line.strip_prefix(name)?;
            let after_labels = match rest.chars().next()? {
                '{' => &rest[rest.find('}')? + 1..],
                ' ' => rest,
                _ => return None, // a longer name that starts with this one
            };
            after_labels.split_whitespace().next()?.parse().ok()
        })
        .collect();
    (!values.is_empty()).then(|| values.iter().sum())
}

#[cfg(test)]
mod tests {
    use super::sample;

    #[test]
    fn sums_a_metric_over_its_labels_and_skips_longer_names() {
        let text = "# HELP process_cpu_seconds_total CPU\n\
                    process_cpu_seconds_total 1.5\n\
                    process_cpu_seconds_total_extra 9\n\
                    process_resident_memory_bytes{node=\"a\"} 100 1700000000\n\
                    process_resident_memory_bytes{node=\"b\"} 2.5e2\n";
        assert_eq!(sample(text, "process_cpu_seconds_total"), Some(1.5));
        assert_eq!(sample(text, "process_resident_memory_bytes"), Some(350.0));
        assert_eq!(sample(text, "absent"), None);
    }
}
