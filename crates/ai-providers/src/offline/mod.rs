//! Offline analyzer (development default): real, deterministic text analysis
//! without a network. **Not an LLM and not a clinical tool.**

pub mod vader;
