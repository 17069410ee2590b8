"""The stages a request goes through: plain functions the agents call.

    admit        decode, validate, de-duplicate (pure)
    route        budget, then pinned tier, task map, learned router or bypass (pure)
    classify     ask the classifier tier how hard the request is
    answer       ask a tier; answer, or escalate to the next tier when unsure
    orchestrate  plan subtasks, then synthesize their answers
    fanin        collect subtask results for synthesis (pure)

Finalizing (one result per request id) and spend booking are the agents' own work:
they are table writes.
"""
