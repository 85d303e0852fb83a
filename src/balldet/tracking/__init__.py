"""Recording runs in ClearML: session set-up, the reporter stages write to, offline records."""
