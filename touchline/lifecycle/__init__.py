"""A journey's lifecycle: draft → live → paused → stopped, and archived; the fence that
makes a pause stop provider requests at once; live status, previews and proofs."""
