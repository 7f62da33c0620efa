//! Unit tests of the schema decoder on hand-built byte constants.
