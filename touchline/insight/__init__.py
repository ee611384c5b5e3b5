"""What the record says about customers: RFM, dis-engagement tripwires, the event log of
journeys for process mining, and how closely enrollments followed their journey's design."""
