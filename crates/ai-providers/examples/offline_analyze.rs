//! Runs the offline analyzer on stdin and prints the answer JSON.
//!
//! `cargo run -p zenalyze-ai-providers --example offline_analyze < entry.txt`

use std::io::Read;

use zenalyze_ai_providers::{AnalysisRequest, Input, OfflineAnalyzer};
use zeroize::Zeroizing;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut text = Zeroizing::new(String::new());
    std::io::stdin().read_to_string(&mut text)?;
    let mut req = AnalysisRequest::new("Analyse this journal entry");
    req.inputs.push(Input::Text(text.to_string()));
    let answer = OfflineAnalyzer::new().analyze_request(&req)?;
    let v: serde_json::Value = serde_json::from_slice(&answer.to_json_bytes()?)?;
    println!("{}", serde_json::to_string_pretty(&v)?);
    Ok(())
}
