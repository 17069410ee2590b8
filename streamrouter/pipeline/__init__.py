"""The stages a request goes through. Each stage is a plain function the agents call:

admit     decode, validate, de-duplicate, route without a model when possible
classify  ask the classifier tier how hard the request is
answer    ask a tier; answer, or escalate to the next tier when unsure
finalize  emit exactly one result per request id
"""
