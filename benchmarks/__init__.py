"""Reproducible benchmarks of phasegraph and the local fake OpenAI server they run against."""
