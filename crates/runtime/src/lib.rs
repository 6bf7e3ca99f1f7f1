//! What every service shares: supervised tasks and shutdown, telemetry set-up, and error
//! reports that print a whole cause chain.

mod shutdown;
mod supervise;
pub mod telemetry;

use std::{error::Error, fmt};

pub use shutdown::Shutdown;
pub use supervise::{Failure, supervise};

/// Displays an error followed by each of its sources: `a: b: c`.
pub fn report<'a>(error: &'a (dyn Error + 'static)) -> Report<'a> {
    Report(error)
}

pub struct Report<'a>(&'a (dyn Error + 'static));

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(error) = source {
            write!(f, ": {error}")?;
            source = error.source();
        }
        Ok(())
    }
}
