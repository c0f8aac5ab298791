"""The triage loop: what the reader does with mail (states, actions) and what Beacon makes of it."""
