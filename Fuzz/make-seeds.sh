#!/bin/bash
# Regenerates the committed seed corpora Fuzz/corpus/<target>/seed-* with Vigil's own encoders
# (Fuzz/Sources/VigilFuzz/Seeds.swift). Needs the fuzz build (`make fuzz` or Fuzz/run.sh builds it).
set -eu
cd "$(dirname "$0")/.."
ASAN_OPTIONS=detect_leaks=0 VIGIL_FUZZ_WRITE_SEEDS=Fuzz/corpus .build-fuzz/debug/VigilFuzz
