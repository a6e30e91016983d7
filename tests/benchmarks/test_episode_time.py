"""episode_time's memory attribution: RSS samples are assigned to the phase the run's events say was under way."""

import json

from tests.benchmarks.helpers import load_script

et = load_script("speed/episode_time")


def test_phase_of_coarsens_progress_labels():
    assert et.phase_of("θ₀ baseline · validation 3/40") == "θ₀ baseline"
    assert et.phase_of("policy decision (attempt 1): token 4/≤96") == "policy decision"
    assert et.phase_of("support_sft step 3/50 (6%, eta 4m)") == "support_sft step"


def test_rss_per_phase_takes_the_max_per_phase_in_order(tmp_path):
    events = tmp_path / "events.jsonl"
    lines = [{"time": 10.0, "kind": "progress", "step": 0, "what": "θ₀ baseline · validation 0/40", "fraction": 0.0},
             {"time": 20.0, "kind": "baseline"},
             {"time": 30.0, "kind": "progress", "step": 0, "what": "policy decision (attempt 1): token 1/≤96", "fraction": 0.0}]
    events.write_text("".join(json.dumps(e) + "\n" for e in lines))
    samples = [(5.0, 1.0), (12.0, 2.5), (15.0, 2.0), (25.0, 2.2), (31.0, 3.0), (40.0, 2.9)]
    assert et.rss_per_phase(samples, events) == [
        {"phase": "startup", "max_rss_gib": 1.0}, {"phase": "θ₀ baseline", "max_rss_gib": 2.5},
        {"phase": "after baseline", "max_rss_gib": 2.2}, {"phase": "policy decision", "max_rss_gib": 3.0}]


def test_rss_per_phase_without_events_is_all_startup(tmp_path):
    assert et.rss_per_phase([(1.0, 0.5), (2.0, 0.7)], tmp_path / "missing.jsonl") == [{"phase": "startup", "max_rss_gib": 0.7}]


def test_episode_summary_lists_what_the_run_did_and_why_it_stopped(tmp_path):
    events = tmp_path / "events.jsonl"
    lines = [{"kind": "baseline", "seconds": 60.0, "validation": {"accuracy": 0.1}, "compute": {"threads": 2}},
             {"kind": "decision", "step": 0, "policy_seconds": 8.0, "action": {"strategy": {"family": "calibrate"}},
              "state": {"minutes_left": 1.5, "family_minutes": {"calibrate": 0.5}}},
             {"kind": "step", "step": 0, "seconds": 30.0, "accuracy": 0.2, "reward": 1},
             {"kind": "progress", "step": 1, "what": "x", "fraction": 0.0},
             {"kind": "status", "status": "running", "message": "budget: stopped before step 1"},
             {"kind": "final", "seconds": 200.0, "test": {"accuracy": 0.15, "n": 100}, "chain": [0]}]
    events.write_text("".join(json.dumps(e) + "\n" for e in lines))
    summary = et.episode_summary(events)
    assert [next(iter(s)) for s in summary] == ["baseline_seconds", "decision", "step", "status", "final_seconds_total"]
    assert summary[1]["family_minutes"] == {"calibrate": 0.5} and summary[3]["message"].startswith("budget:")
    assert summary[4]["chain"] == [0] and summary[4]["n_test"] == 100
