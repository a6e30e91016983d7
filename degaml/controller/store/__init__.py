"""The run store: a run directory's header and append-only event log (`trajectory_store`, `events`) and the export
of accepted trajectories (`export`)."""
