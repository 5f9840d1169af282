//! Per-endpoint admission: the circuit breaker and the token-bucket rate limit.
//!
//! Both are small state machines behind a `std::sync::Mutex` held for a few instructions, never
//! across an await.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::endpoint::{CircuitBreaker as BreakerConfig, RateLimit};

/// State as the `webhook_circuit_state` gauge reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CircuitState {
    Closed = 0,
    HalfOpen = 1,
    Open = 2,
}

#[derive(Debug)]
enum State {
    Closed { consecutive_failures: u32 },
    Open { until: Instant },
    HalfOpen { probe_in_flight: bool },
}

/// What the breaker lets the worker start now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Closed: as many attempts as the concurrency limit allows.
    Any,
    /// Half-open with no probe out: exactly one attempt, the probe.
    Probe,
    /// Open until then, or half-open with the probe still out (`None`: wait for its result).
    Wait(Option<Instant>),
}

#[derive(Debug)]
pub struct Breaker {
    config: BreakerConfig,
    state: Mutex<State>,
}

impl Breaker {
    pub fn new(config: BreakerConfig) -> Self {
        Breaker {
            config,
            state: Mutex::new(State::Closed {
                consecutive_failures: 0,
            }),
        }
    }

    pub fn state(&self) -> CircuitState {
        match *self.lock() {
            State::Closed { .. } => CircuitState::Closed,
            State::Open { .. } => CircuitState::Open,
            State::HalfOpen { .. } => CircuitState::HalfOpen,
        }
    }

    /// Asks what may start now; moves Open to HalfOpen once the cool-down has passed.
    pub fn admission(&self, now: Instant) -> Admission {
        let mut state = self.lock();
        match *state {
            State::Closed { .. } => Admission::Any,
            State::Open { until } if now >= until => {
                *state = State::HalfOpen {
                    probe_in_flight: false,
                };
                Admission::Probe
            }
            State::Open { until } => Admission::Wait(Some(until)),
            State::HalfOpen {
                probe_in_flight: false,
            } => Admission::Probe,
            State::HalfOpen {
                probe_in_flight: true,
            } => Admission::Wait(None),
        }
    }

    /// The worker started the probe.
    pub fn probe_started(&self) {
        let mut state = self.lock();
        if let State::HalfOpen { .. } = *state {
            *state = State::HalfOpen {
                probe_in_flight: true,
            };
        }
    }

    /// The probe could not be started after all (nothing was due): let the next one go.
    pub fn probe_abandoned(&self) {
        let mut state = self.lock();
        if let State::HalfOpen { .. } = *state {
            *state = State::HalfOpen {
                probe_in_flight: false,
            };
        }
    }

    /// A response that shows the endpoint is up (any status but 408/429/5xx).
    pub fn record_success(&self) {
        *self.lock() = State::Closed {
            consecutive_failures: 0,
        };
    }

    /// A retryable failure. Returns true when this failure opened the circuit.
    pub fn record_failure(&self, now: Instant) -> bool {
        if self.config.failure_threshold == 0 {
            return false;
        }
        let mut state = self.lock();
        let open = State::Open {
            until: now + self.config.cool_down,
        };
        match *state {
            State::Closed {
                consecutive_failures,
            } => {
                let failures = consecutive_failures + 1;
                if failures >= self.config.failure_threshold {
                    *state = open;
                    true
                } else {
                    *state = State::Closed {
                        consecutive_failures: failures,
                    };
                    false
                }
            }
            State::HalfOpen { .. } => {
                *state = open;
                true
            }
            // An attempt started before the circuit opened failed too: already open.
            State::Open { .. } => false,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding this lock leaves a valid State (every write is one assignment).
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Token bucket: `burst` tokens, refilled at `per_second`.
#[derive(Debug)]
pub struct TokenBucket {
    limit: RateLimit,
    state: Mutex<(f64, Instant)>,
}

impl TokenBucket {
    pub fn new(limit: RateLimit) -> Self {
        TokenBucket {
            limit,
            state: Mutex::new((f64::from(limit.burst), Instant::now())),
        }
    }

    /// Takes a token if there is one; otherwise says how long until there will be.
    pub fn try_take(&self, now: Instant) -> Result<(), Duration> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let (tokens, last) = *state;
        let refilled = (tokens
            + now.saturating_duration_since(last).as_secs_f64() * self.limit.per_second)
            .min(f64::from(self.limit.burst));
        if refilled >= 1.0 {
            *state = (refilled - 1.0, now);
            Ok(())
        } else {
            *state = (refilled, now);
            Err(Duration::from_secs_f64(
                (1.0 - refilled) / self.limit.per_second,
            ))
        }
    }

    /// Waits for a token.
    pub async fn take(&self) {
        loop {
            match self.try_take(Instant::now()) {
                Ok(()) => return,
                Err(wait) => tokio::time::sleep(wait).await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breaker_opens_half_opens_and_closes() {
        let b = Breaker::new(BreakerConfig {
            failure_threshold: 3,
            cool_down: Duration::from_secs(10),
        });
        let t0 = Instant::now();
        assert_eq!(b.admission(t0), Admission::Any);
        assert!(!b.record_failure(t0));
        assert!(!b.record_failure(t0));
        assert!(b.record_failure(t0));
        assert_eq!(b.state(), CircuitState::Open);
        assert_eq!(
            b.admission(t0 + Duration::from_secs(1)),
            Admission::Wait(Some(t0 + Duration::from_secs(10)))
        );
        assert_eq!(b.admission(t0 + Duration::from_secs(10)), Admission::Probe);
        b.probe_started();
        assert_eq!(
            b.admission(t0 + Duration::from_secs(10)),
            Admission::Wait(None)
        );
        // A failed probe re-opens for another cool-down.
        assert!(b.record_failure(t0 + Duration::from_secs(11)));
        assert_eq!(b.state(), CircuitState::Open);
        assert_eq!(b.admission(t0 + Duration::from_secs(21)), Admission::Probe);
        b.probe_started();
        b.record_success();
        assert_eq!(b.state(), CircuitState::Closed);
        assert_eq!(b.admission(t0 + Duration::from_secs(21)), Admission::Any);
    }

    #[test]
    fn a_success_resets_the_failure_count() {
        let b = Breaker::new(BreakerConfig {
            failure_threshold: 2,
            cool_down: Duration::from_secs(1),
        });
        let t = Instant::now();
        b.record_failure(t);
        b.record_success();
        assert!(!b.record_failure(t));
        assert_eq!(b.state(), CircuitState::Closed);
    }

    #[test]
    fn token_bucket_allows_bursts_then_paces() {
        let bucket = TokenBucket::new(RateLimit {
            per_second: 10.0,
            burst: 2,
        });
        let t = Instant::now();
        assert!(bucket.try_take(t).is_ok());
        assert!(bucket.try_take(t).is_ok());
        let wait = bucket.try_take(t).unwrap_err();
        assert!(
            wait <= Duration::from_millis(100) && wait > Duration::from_millis(90),
            "{wait:?}"
        );
        assert!(bucket.try_take(t + Duration::from_millis(100)).is_ok());
    }
}
