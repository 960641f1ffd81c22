"""Every sink in one place: where a flow's rows and dead letters go (QuestDB over ILP,
Parquet folders, the `dlq` topic, dead-letter files), and where producers of raw messages
(live clients) write them (`raw`: Kafka topics or a capture file)."""
