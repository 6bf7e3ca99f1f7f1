//! CPU time from `/proc`: a server's whole process, and this process's threads by name, so
//! that the worker's share and the driver's are reported apart.

use std::fs;

/// Linux reports CPU times in clock ticks of 1/100 s (`USER_HZ`) on every architecture it
/// exposes `/proc` on.
const TICKS_PER_SECOND: f64 = 100.0;

/// User and system time of `stat` (the text of a `/proc/…/stat` file), in seconds.
fn cpu_seconds(stat: &str) -> Option<f64> {
    // The command name is in parentheses and may hold spaces: count fields after it.
    let after_name = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    let user: f64 = fields.get(11)?.parse().ok()?;
    let system: f64 = fields.get(12)?.parse().ok()?;
    Some((user + system) / TICKS_PER_SECOND)
}

/// CPU seconds a process has used so far.
pub fn process_seconds(pid: u32) -> Option<f64> {
    cpu_seconds(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// CPU seconds the threads of this process whose names start with `prefix` have used.
pub fn own_threads_seconds(prefix: &str) -> f64 {
    let Ok(tasks) = fs::read_dir("/proc/self/task") else {
        return 0.0;
    };
    tasks
        .flatten()
        .filter(|task| {
            fs::read_to_string(task.path().join("comm")).is_ok_and(|name| name.starts_with(prefix))
        })
        .filter_map(|task| cpu_seconds(&fs::read_to_string(task.path().join("stat")).ok()?))
        .sum()
}

/// Resident memory of a process, in bytes.
pub fn process_rss_bytes(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_user_and_system_time_past_a_name_with_spaces() {
        let stat = "4242 (tokio runtime w) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 \
                    8 0 100 0 0";
        assert_eq!(cpu_seconds(stat), Some(3.0));
    }

    #[test]
    fn this_process_has_a_cpu_time_and_a_resident_size() {
        let pid = std::process::id();
        assert!(process_seconds(pid).is_some());
        assert!(process_rss_bytes(pid).is_some_and(|rss| rss > 0));
    }
}
