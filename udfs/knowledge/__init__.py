"""L4 knowledge: question-answer pairs synthesised from L3 text, each checked by an independent pass."""
