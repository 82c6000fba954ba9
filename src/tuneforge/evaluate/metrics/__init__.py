"""Task metrics: answer labels, JSON structure, the config's answer-check rules (`rules`), chrF,
classification and preference scores (`scores`), bootstrap statistics and the per-task results
built from them (`tasks`)."""
