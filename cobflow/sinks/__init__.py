"""Where dataflow rows go: QuestDB (ILP over HTTP) and the dead-letter topic."""
